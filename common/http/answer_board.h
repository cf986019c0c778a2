#pragma once
// The answers that HttpServer's buffered requests await (common/http/server.h).
// A Responder reaches its connection only through here, by the ticket its
// request was given, so a Responder kept past the server's end (by a gRPC
// completion, by a thread) holds nothing of the server: Stop closes the board
// once its I/O threads are done, which releases the connections still waiting
// while their io_context exists. An answer after that is dropped, and so is a
// second answer to one request. A ticket dropped unanswered releases its
// connection, which then closes. Internal to common/http.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "common/http/response.h"

namespace switchboard::httpserver::detail {

class AnswerBoard {
 public:
  // Writes an answer on its connection (posts to the connection's strand).
  using Deliver = std::function<void(Response)>;

  // One request's claim on its answer; shared by the copies of its
  // Responder.
  class Ticket {
   public:
    Ticket(std::shared_ptr<AnswerBoard> board, std::uint64_t id) : board_(std::move(board)), id_(id) {}
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    // Delivers the first answer while the board is open; drops any other.
    void Answer(Response response);

   private:
    std::shared_ptr<AnswerBoard> board_;
    std::uint64_t id_;
  };

  // Holds `deliver` (and the connection it keeps) until the ticket is
  // answered or dropped, or the board closes.
  static std::shared_ptr<Ticket> Await(const std::shared_ptr<AnswerBoard>& board, Deliver deliver);
  // Releases every waiting connection; tickets do nothing after.
  void Close();

 private:
  // Both run `deliver` (or drop it) under the lock, so Close never returns
  // while an answer is still on its way into the io_context or a connection
  // is still being released.
  void Answer(std::uint64_t id, Response* response);

  std::mutex mu_;
  bool open_ = true;
  std::uint64_t next_ = 0;
  std::unordered_map<std::uint64_t, Deliver> waiting_;
};

}  // namespace switchboard::httpserver::detail
