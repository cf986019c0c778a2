#include "gateway/http/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http/beast_request.h"
#include "common/log.h"

namespace switchboard::gateway::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  if (r.body.empty() || r.body.back() != '\n') r.body.push_back('\n');
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

struct HttpServer::Impl {
  ServerOptions options;
  Handler handler;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<asio::thread_pool> workers;
  std::vector<std::thread> io_threads;
  std::string address;
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> queued{0};
  std::mutex stop_mu;
  std::unique_ptr<asio::ssl::context> tls;  // set when serving HTTPS

  void Accept();
};

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection: plain (Stream = beast::tcp_stream) or TLS (TlsStream).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
    requires std::is_same_v<Stream, beast::tcp_stream>
      : stream_(std::move(socket)),
        server_(server),
        limits_{server->options.header_limit, server->options.body_limit, false} {}
  Session(tcp::socket socket, HttpServer::Impl* server, asio::ssl::context& tls)
    requires std::is_same_v<Stream, TlsStream>
      : stream_(std::move(socket), tls),
        server_(server),
        limits_{server->options.header_limit, server->options.body_limit, false} {}

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

 private:
  void Read() {
    parser_.emplace();
    httpcore::ApplyLimits(*parser_, limits_);
    Lowest().expires_after(server_->options.idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      Close();
      return;
    }
    if (ec) {
      WriteError(httpcore::RefusalStatus(ec), httpcore::RefusalMessage(ec, limits_));
      return;
    }
    bhttp::request<bhttp::string_body> msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    Request req;
    httpcore::CopyHead(msg.base(), &req);
    req.body = std::move(msg.body());
    {
      beast::error_code rec;
      auto peer = Lowest().socket().remote_endpoint(rec);
      if (!rec) {
        req.remote = peer.address().is_v6() ? absl::StrCat("[", peer.address().to_string(), "]:", peer.port())
                                            : absl::StrCat(peer.address().to_string(), ":", peer.port());
      }
    }
    auto self = this->shared_from_this();
    auto responded = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [self, responded](Response resp) {
      if (responded->exchange(true)) return;
      asio::post(self->stream_.get_executor(),
                 [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp), false); });
    };
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
    // Admission: a bounded queue of work; beyond it, 503 at once.
    if (server->queued.fetch_add(1) >= server->options.queue_limit) {
      server->queued.fetch_sub(1);
      if (server->options.on_shed) server->options.on_shed(req, "queue_full");
      respond(Busy(absl::StrCat("busy: ", server->options.queue_limit,
                                " requests are already waiting for a handler; retry later")));
      return;
    }
    auto queued_at = std::chrono::steady_clock::now();
    asio::post(*server->workers, [server, req = std::move(req), respond, queued_at]() mutable {
      server->queued.fetch_sub(1);
      if (std::chrono::steady_clock::now() - queued_at > server->options.queue_timeout) {
        if (server->options.on_shed) server->options.on_shed(req, "queue_timeout");
        respond(Busy(absl::StrCat("busy: waited more than ", server->options.queue_timeout.count(),
                                  " ms for a handler; retry later")));
        return;
      }
      try {
        server->handler(std::move(req), respond);
      } catch (const std::exception& e) {
        log::Error("http handler threw", {{"error", e.what()}});
        respond(Response::Text(500, "internal error"));
      }
    });
  }

  static Response Busy(std::string message) {
    Response r = Response::Text(503, std::move(message));
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }

  void WriteError(int status, std::string message) {
    version_ = version_ ? version_ : 11;
    Write(Response::Text(status, std::move(message)), true);
  }

  void Write(Response resp, bool close) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(resp.status), version_);
    res->set(bhttp::field::server, "switchboard-gateway");
    res->set(bhttp::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->set(k, v);
    res->body() = std::move(resp.body);
    bool keep = keep_alive_ && !close && !server_->stopped.load();
    res->keep_alive(keep);
    res->prepare_payload();
    Lowest().expires_after(std::chrono::seconds(30));
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

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  Stream stream_;
  HttpServer::Impl* server_;
  httpcore::ParseLimits limits_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  std::vector<char> drain_;
  std::size_t drained_ = 0;
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      log::Warn("http accept failed", {{"error", ec.message()}});
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (tls) {
        std::make_shared<Session<TlsStream>>(std::move(socket), this, *tls)->Start();
      } else {
        std::make_shared<Session<beast::tcp_stream>>(std::move(socket), this)->Start();
      }
    }
    if (acceptor.is_open()) Accept();
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

const std::string& HttpServer::address() const { return impl_->address; }

std::size_t HttpServer::queued() const { return impl_->queued.load(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const ServerOptions& options, Handler handler) {
  size_t colon = options.address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("http address '", options.address, "' must be HOST:PORT, e.g. 127.0.0.1:8080"));
  }
  std::string host = options.address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  int port = 0;
  if (!absl::SimpleAtoi(options.address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http address '", options.address, "': port must be a number 0-65535"));
  }
  beast::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("http address '", options.address, "': host must be an IP address or localhost"));
  }
  auto impl = std::make_unique<Impl>();
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "http_tls_cert_file and http_tls_key_file go together: give both (HTTPS) or neither (HTTP)");
  }
  if (!options.tls_cert_file.empty()) {
    impl->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    impl->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    impl->tls->use_certificate_chain_file(options.tls_cert_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("http_tls_cert_file '", options.tls_cert_file,
                                                     "': cannot load a PEM certificate chain: ", ec.message()));
    }
    impl->tls->use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
    if (ec && absl::StrContains(ec.message(), "mismatch")) {
      return absl::InvalidArgumentError(absl::StrCat("http_tls_key_file '", options.tls_key_file,
                                                     "' is not the key of http_tls_cert_file '",
                                                     options.tls_cert_file, "'"));
    }
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("http_tls_key_file '", options.tls_key_file,
                                                     "': cannot load a PEM private key: ", ec.message()));
    }
    if (SSL_CTX_check_private_key(impl->tls->native_handle()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("http_tls_key_file '", options.tls_key_file,
                                                     "' is not the key of http_tls_cert_file '",
                                                     options.tls_cert_file, "'"));
    }
  }
  impl->options = options;
  impl->handler = std::move(handler);
  tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.address, ": ", ec.message()));
  }
  auto bound = impl->acceptor.local_endpoint();
  std::string bound_host = bound.address().to_string();
  if (bound.address().is_v6()) bound_host = absl::StrCat("[", bound_host, "]");
  impl->address = absl::StrCat(bound_host, ":", bound.port());
  impl->workers = std::make_unique<asio::thread_pool>(std::max(1, options.worker_threads));
  impl->work.emplace(impl->ioc.get_executor());
  impl->Accept();
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    impl->io_threads.emplace_back([raw = impl.get()] { raw->ioc.run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped.exchange(true)) return;
  asio::post(impl_->ioc, [raw = impl_.get()] {
    beast::error_code ec;
    raw->acceptor.close(ec);
  });
  // Running handlers finish; their answers are written if the loop still runs.
  impl_->workers->join();
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->io_threads) t.join();
  impl_->io_threads.clear();
}

}  // namespace switchboard::gateway::http
