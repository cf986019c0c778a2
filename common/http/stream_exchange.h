#pragma once
// The Exchange (common/http/exchange.h) of a streamed route's request: each
// call runs one step of Beast I/O on the connection's strand and waits for
// it on the worker that called, bounded by the route's io_timeout. When the
// handler returns, the connection goes back to its Session (the next
// request, or closed). Internal to common/http/server.cc, through
// common/http/session.h.

#include <future>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/http/session.h"

namespace switchboard::httpserver::detail {

template <class Stream>
class StreamExchange : public Exchange {
 public:
  StreamExchange(std::shared_ptr<Session<Stream>> session, const StreamRoute& route, Request head, bool has_body,
                 std::optional<std::uint64_t> content_length, bool expect_continue)
      : session_(std::move(session)),
        route_(route),
        head_(std::move(head)),
        body_done_(!has_body),
        content_length_(content_length),
        expect_continue_(expect_continue && has_body) {}

  const Request& request() const override { return head_; }

  absl::StatusOr<size_t> ReadBody(char* buf, size_t cap) override {
    if (body_done_ || cap == 0) return 0;
    if (!read_error_.ok()) return read_error_;
    if (content_length_ && *content_length_ > route_.body_limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("request body of ", *content_length_, " bytes is larger than ", route_.body_limit, " bytes"));
    }
    if (expect_continue_) {
      expect_continue_ = false;
      auto [ec, n] = OnStrand([this](Done done) {
        auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                         session_->version());
        bhttp::async_write(session_->stream(), *res,
                           [res, done](beast::error_code ec, std::size_t n) { done(ec, n); });
      });
      if (ec) return Failed(ec);
    }
    while (true) {
      auto [ec, n] = OnStrand([this, buf, cap](Done done) {
        auto& body = session_->body_parser().get().body();
        body.data = buf;
        body.size = cap;
        body.more = true;
        bhttp::async_read_some(session_->stream(), session_->buffer(), session_->body_parser(),
                               [this, cap, done](beast::error_code ec, std::size_t) {
                                 if (ec == bhttp::error::need_buffer) ec = {};
                                 body_done_ = !ec && session_->body_parser().is_done();
                                 done(ec, cap - session_->body_parser().get().body().size);
                               });
      });
      if (ec) return Failed(ec);
      if (n > 0 || body_done_) return n;
      // Only framing was read (a chunk header): read on.
    }
  }

  bool WriteHead(int status, const Headers& headers, int64_t content_length) override {
    if (head_written_ || broken_) return false;
    head_written_ = true;
    // A connection whose request body was not read to its end cannot carry
    // another request.
    keep_ = session_->keep_alive() && body_done_;
    auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(static_cast<bhttp::status>(status),
                                                                     session_->version());
    session_->FillHead(res->base(), headers);
    res->content_length(static_cast<std::uint64_t>(std::max<int64_t>(0, content_length)));
    res->keep_alive(keep_);
    to_write_ = head_.method == "HEAD" ? 0 : std::max<int64_t>(0, content_length);
    auto [ec, n] = OnStrand([this, res](Done done) {
      bhttp::async_write(session_->stream(), *res, [res, done](beast::error_code ec, std::size_t n) { done(ec, n); });
    });
    if (ec) broken_ = true;
    return !ec;
  }

  bool WriteBody(absl::string_view piece) override {
    if (!head_written_ || broken_) return false;
    if (piece.empty()) return true;
    // Nothing past Content-Length is sent.
    if (static_cast<int64_t>(piece.size()) > to_write_) return false;
    auto [ec, n] = OnStrand([this, piece](Done done) {
      asio::async_write(session_->stream(), asio::buffer(piece.data(), piece.size()), done);
    });
    if (ec) {
      broken_ = true;
      return false;
    }
    to_write_ -= static_cast<int64_t>(piece.size());
    return true;
  }

  // On a worker: the route's handler, then the connection back to its
  // session.
  void Run() {
    try {
      route_.handler(*this);
    } catch (const std::exception& e) {
      log::Error("http stream handler threw", {{"error", e.what()}, {"path", head_.path}});
    }
    if (!head_written_ && !broken_) Respond(Response::Text(500, "internal error: the request was not answered"));
    const bool reusable = head_written_ && !broken_ && to_write_ == 0 && keep_;
    const bool unread = !body_done_;
    session_->Post([session = session_, reusable, unread] { session->EndStream(reusable, unread); });
  }

 private:
  using Done = std::function<void(beast::error_code, std::size_t)>;

  // Starts `op` on the connection's strand, with the route's io_timeout,
  // and waits for it to call its Done.
  std::pair<beast::error_code, std::size_t> OnStrand(std::function<void(Done)> op) {
    auto result = std::make_shared<std::promise<std::pair<beast::error_code, std::size_t>>>();
    auto ready = result->get_future();
    session_->Post([this, op = std::move(op), result] {
      session_->Lowest().expires_after(route_.io_timeout);
      op([result](beast::error_code ec, std::size_t n) { result->set_value({ec, n}); });
    });
    return ready.get();
  }

  // The body cannot be read on after `ec`; the connection is closed once
  // the handler has answered (if it still can).
  absl::Status Failed(const beast::error_code& ec) {
    read_error_ = ReadError(ec);
    return read_error_;
  }

  absl::Status ReadError(const beast::error_code& ec) const {
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(absl::StrCat("the request body stalled for ", route_.io_timeout.count() / 1000,
                                                      " s; send the body without pauses"));
    }
    if (ec == bhttp::error::body_limit) {
      return absl::InvalidArgumentError(absl::StrCat("request body larger than ", route_.body_limit, " bytes"));
    }
    if (Gone(ec) || ec == bhttp::error::partial_message) {
      return absl::UnavailableError("the client closed the connection before the end of the request body");
    }
    return absl::InvalidArgumentError(absl::StrCat("malformed HTTP request body: ", ec.message()));
  }

  std::shared_ptr<Session<Stream>> session_;
  const StreamRoute& route_;
  Request head_;
  bool body_done_;
  std::optional<std::uint64_t> content_length_;
  bool expect_continue_;
  bool head_written_ = false;
  bool keep_ = false;
  bool broken_ = false;  // a write failed: nothing more can be sent
  absl::Status read_error_;
  int64_t to_write_ = 0;
};

}  // namespace switchboard::httpserver::detail
