#pragma once
// One connection of HttpServer (common/http/server.h), plain or TLS: reads a
// head, then the body whole (buffered requests) or hands the connection to a
// streamed route's Exchange (common/http/stream_exchange.h); writes answers;
// keeps the connection for the next request or closes it. Internal to
// common/http/server.cc.

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/http/beast_request.h"
#include "common/http/server_impl.h"
#include "common/log.h"

namespace switchboard::httpserver::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
class StreamExchange;

// Errors after which there is nobody to answer: the client closed, went
// silent, or the server is stopping.
inline bool Gone(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::ssl::error::stream_truncated;
}

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
    requires std::is_same_v<Stream, beast::tcp_stream>
      : stream_(std::move(socket)), server_(server), limits_{server->options.header_limit, 0, true} {}
  Session(tcp::socket socket, HttpServer::Impl* server, asio::ssl::context& tls)
    requires std::is_same_v<Stream, TlsStream>
      : stream_(std::move(socket), tls), server_(server), limits_{server->options.header_limit, 0, true} {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (std::is_same_v<Stream, TlsStream>) {
        // The handshake gets the idle timeout: a client that never sends a
        // ClientHello holds nothing for longer than an idle connection does.
        self->Lowest().expires_after(self->server_->options.idle_timeout);
        self->stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) {
            self->Close();
            return;
          }
          self->Read();
        });
      } else {
        self->Read();
      }
    });
  }

  // For StreamExchange; all but Post run on the connection's strand.
  template <class Fn>
  void Post(Fn&& fn) {
    asio::post(stream_.get_executor(), std::forward<Fn>(fn));
  }
  Stream& stream() { return stream_; }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  beast::flat_buffer& buffer() { return buffer_; }
  bhttp::request_parser<bhttp::buffer_body>& body_parser() { return *stream_parser_; }
  HttpServer::Impl* server() const { return server_; }
  unsigned version() const { return version_; }
  bool keep_alive() const { return keep_alive_ && !server_->stopped.load(); }

  // The Server header and `headers` on an answer's head.
  void FillHead(bhttp::fields& fields, const Headers& headers) const {
    if (!server_->options.server_name.empty()) fields.set(bhttp::field::server, server_->options.server_name);
    for (const auto& [k, v] : headers) fields.set(k, v);
  }

  // After a streamed request: the next request on this connection when it
  // is `reusable`; else close, lingering when the body was left unread.
  void EndStream(bool reusable, bool body_unread) {
    stream_parser_.reset();
    if (reusable) {
      Read();
    } else if (body_unread) {
      LingeringClose();
    } else {
      Close();
    }
  }

  // Writes a whole answer, then reads the next request, or closes
  // (lingering, when `close`: the body may be unread).
  void Write(Response resp, bool close) {
    const bool keep = keep_alive() && !close;
    Headers headers = std::move(resp.headers);
    if (!resp.content_type.empty()) headers.insert(headers.begin(), {"Content-Type", resp.content_type});
    Lowest().expires_after(std::chrono::seconds(30));
    if (head_request_) {
      // HEAD: the length a GET would get, and no body.
      auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(static_cast<bhttp::status>(resp.status),
                                                                       version_);
      FillHead(res->base(), headers);
      res->content_length(resp.body.size());
      res->keep_alive(keep);
      Send(std::move(res), keep, close);
      return;
    }
    auto res =
        std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(resp.status), version_);
    FillHead(res->base(), headers);
    res->body() = std::move(resp.body);
    res->keep_alive(keep);
    res->prepare_payload();
    Send(std::move(res), keep, close);
  }

 private:
  using Self = Session<Stream>;

  void Read() {
    stream_parser_.reset();
    string_parser_.reset();
    head_parser_.emplace();
    httpcore::ApplyLimits(*head_parser_, limits_);
    Lowest().expires_after(server_->options.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *head_parser_,
                             beast::bind_front_handler(&Self::OnHead, this->shared_from_this()));
  }

  void OnHead(beast::error_code ec, std::size_t) {
    if (Gone(ec)) {
      Close();
      return;
    }
    if (ec == bhttp::error::partial_message) {
      WriteError(400, "incomplete HTTP request head: the connection closed or stalled before the blank line");
      return;
    }
    if (ec) {
      WriteError(httpcore::RefusalStatus(ec), httpcore::RefusalMessage(ec, limits_));
      return;
    }
    const auto& head = head_parser_->get();
    keep_alive_ = head.keep_alive();
    version_ = head.version();
    head_request_ = head.method() == bhttp::verb::head;
    expect_continue_ = version_ >= 11 && beast::iequals(head[bhttp::field::expect], "100-continue");
    Request req;
    httpcore::CopyHead(head.base(), &req);
    req.remote = Peer();
    for (const StreamRoute& route : server_->options.streams) {
      if (route.match && route.match(req)) {
        StartStream(route, std::move(req));
        return;
      }
    }
    ReadWholeBody(std::move(req));
  }

  void ReadWholeBody(Request req) {
    if (head_parser_->is_done()) {
      Dispatch(std::move(req));
      return;
    }
    const std::size_t limit = server_->options.body_limit;
    if (auto length = head_parser_->content_length(); length && *length > limit) {
      WriteError(413, httpcore::RefusalMessage(bhttp::error::body_limit, {limits_.header_limit, limit, false}));
      return;
    }
    string_parser_.emplace(std::move(*head_parser_));
    head_parser_.reset();
    string_parser_->body_limit(limit);
    pending_ = std::move(req);
    auto self = this->shared_from_this();
    auto read = [self] {
      bhttp::async_read(self->stream_, self->buffer_, *self->string_parser_,
                        beast::bind_front_handler(&Self::OnBody, self));
    };
    if (!expect_continue_) {
      read();
      return;
    }
    auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, version_);
    bhttp::async_write(stream_, *cont, [self, cont, read](beast::error_code wec, std::size_t) {
      if (wec) {
        self->Close();
        return;
      }
      read();
    });
  }

  void OnBody(beast::error_code ec, std::size_t) {
    if (Gone(ec)) {
      Close();
      return;
    }
    if (ec) {
      WriteError(httpcore::RefusalStatus(ec),
                 httpcore::RefusalMessage(ec, {limits_.header_limit, server_->options.body_limit, false}));
      return;
    }
    Request req = std::move(pending_);
    req.body = std::move(string_parser_->get().body());
    string_parser_.reset();
    Dispatch(std::move(req));
  }

  // A buffered request: `front`, else a worker.
  void Dispatch(Request req) {
    // The Responder holds this connection only through the server's answer
    // board (common/http/answer_board.h): it may be kept past the server.
    auto ticket = AnswerBoard::Await(server_->answers, [self = this->shared_from_this()](Response resp) {
      self->Post([self, resp = std::move(resp)]() mutable { self->Write(std::move(resp), false); });
    });
    Responder respond = [ticket](Response resp) { ticket->Answer(std::move(resp)); };
    HttpServer::Impl* server = server_;
    if (server->options.front) {
      bool taken = false;
      try {
        taken = server->options.front(req, respond);
      } catch (const std::exception& e) {
        log::Error("http front handler threw", {{"error", e.what()}});
        respond(Response::Text(500, "internal error"));
        return;
      }
      if (taken) return;
    }
    server->Admit(
        std::move(req),
        [server, respond](Request r) {
          if (!server->handler) {
            respond(Response::Text(404, absl::StrCat("not found: ", r.path)));
            return;
          }
          server->handler(std::move(r), respond);
        },
        respond);
  }

  // A streamed route's request: its handler gets the connection on a worker.
  void StartStream(const StreamRoute& route, Request req) {
    const bool has_body = !head_parser_->is_done();
    std::optional<std::uint64_t> length;
    if (has_body) {
      if (auto given = head_parser_->content_length()) length = *given;
      stream_parser_.emplace(std::move(*head_parser_));
      stream_parser_->body_limit(route.body_limit);
    }
    head_parser_.reset();
    auto self = this->shared_from_this();
    auto exchange = std::make_shared<StreamExchange<Stream>>(self, route, req, has_body, length, expect_continue_);
    server_->Admit(
        std::move(req), [exchange](Request) { exchange->Run(); },
        [self](Response resp) {
          self->Post([self, resp = std::move(resp)]() mutable { self->Write(std::move(resp), /*close=*/true); });
        });
  }

  void WriteError(int status, std::string message) { Write(Response::Text(status, std::move(message)), true); }

  template <class Message>
  void Send(std::shared_ptr<Message> res, bool keep, bool close) {
    bhttp::async_write(stream_, *res,
                       [self = this->shared_from_this(), res, keep, close](beast::error_code ec, std::size_t) {
                         if (!ec && close) {
                           self->LingeringClose();
                           return;
                         }
                         if (ec || !keep) {
                           self->Close();
                           return;
                         }
                         self->Read();
                       });
  }

  // After an error answer the client may still be sending the body we
  // refused. Closing with unread input makes the kernel send RST, which can
  // destroy our 413/400 before the client reads it. So stop sending, then
  // read and discard what still arrives (bounded in time and bytes) before
  // closing, as nginx's lingering close does.
  void LingeringClose() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    Lowest().expires_after(std::chrono::seconds(2));
    Drain();
  }

  void Drain() {
    constexpr std::size_t kMaxDrained = 64u << 20;
    drain_.resize(64 * 1024);
    stream_.async_read_some(asio::buffer(drain_), [self = this->shared_from_this()](beast::error_code ec,
                                                                                     std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kMaxDrained) {
        self->Close();
        return;
      }
      self->Drain();
    });
  }

  void Close() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    Lowest().socket().close(ec);
  }

  // The peer's "ip:port" ("[ip]:port" for IPv6).
  std::string Peer() {
    beast::error_code ec;
    auto peer = Lowest().socket().remote_endpoint(ec);
    if (ec) return "";
    return peer.address().is_v6() ? absl::StrCat("[", peer.address().to_string(), "]:", peer.port())
                                  : absl::StrCat(peer.address().to_string(), ":", peer.port());
  }

  Stream stream_;
  HttpServer::Impl* server_;
  httpcore::ParseLimits limits_;  // of heads (body limits are per route)
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> head_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> string_parser_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> stream_parser_;
  Request pending_;  // a buffered request while its body is read
  bool keep_alive_ = false;
  unsigned version_ = 11;
  bool head_request_ = false;
  bool expect_continue_ = false;
  std::vector<char> drain_;
  std::size_t drained_ = 0;
};

}  // namespace switchboard::httpserver::detail

#include "common/http/stream_exchange.h"
