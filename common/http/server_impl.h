#pragma once
// The state HttpServer (common/http/server.h) shares with its connections
// (common/http/session.h): internal to common/http/server.cc and session.h.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/http/answer_board.h"
#include "common/http/server.h"

namespace switchboard::httpserver {

struct HttpServer::Impl {
  ServerOptions options;
  Handler handler;
  boost::asio::io_context ioc;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  boost::asio::ip::tcp::acceptor acceptor{ioc};
  std::unique_ptr<boost::asio::thread_pool> workers;
  std::vector<std::thread> io_threads;
  std::string address;
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> queued{0};
  std::mutex stop_mu;
  std::shared_ptr<const TlsContext> tls;  // set when serving HTTPS
  // Shared with every Responder, which may outlive the server.
  std::shared_ptr<detail::AnswerBoard> answers = std::make_shared<detail::AnswerBoard>();

  void Accept();
  // Runs `run` on a worker; or answers `refuse` with 503 when queue_limit
  // requests already wait (at once, on the caller's thread) or when the
  // request waited queue_timeout (unrun, on the worker).
  void Admit(Request request, std::function<void(Request)> run, std::function<void(Response)> refuse);
};

}  // namespace switchboard::httpserver
