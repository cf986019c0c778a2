#include "common/http/server.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http/session.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace switchboard::httpserver {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using detail::Session;
using detail::TlsStream;

namespace {

Response Busy(std::string message) {
  Response r = Response::Text(503, std::move(message));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

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
        std::make_shared<Session<TlsStream>>(std::move(socket), this, tls->asio())->Start();
      } else {
        std::make_shared<Session<beast::tcp_stream>>(std::move(socket), this)->Start();
      }
    }
    if (acceptor.is_open()) Accept();
  });
}

void HttpServer::Impl::Admit(Request request, std::function<void(Request)> run,
                             std::function<void(Response)> refuse) {
  // A bounded queue of work; beyond it, 503 at once.
  if (queued.fetch_add(1) >= options.queue_limit) {
    queued.fetch_sub(1);
    if (options.on_shed) options.on_shed(request, "queue_full");
    refuse(Busy(absl::StrCat("busy: ", options.queue_limit,
                             " requests are already waiting for a handler; retry later")));
    return;
  }
  auto queued_at = std::chrono::steady_clock::now();
  asio::post(*workers, [this, request = std::move(request), run = std::move(run), refuse = std::move(refuse),
                        queued_at]() mutable {
    queued.fetch_sub(1);
    if (std::chrono::steady_clock::now() - queued_at > options.queue_timeout) {
      if (options.on_shed) options.on_shed(request, "queue_timeout");
      refuse(Busy(absl::StrCat("busy: waited more than ", options.queue_timeout.count(),
                               " ms for a handler; retry later")));
      return;
    }
    try {
      run(std::move(request));
    } catch (const std::exception& e) {
      log::Error("http handler threw", {{"error", e.what()}});
      refuse(Response::Text(500, "internal error"));
    }
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
        absl::StrCat("http_address '", options.address, "' must be HOST:PORT, e.g. 127.0.0.1:8080"));
  }
  std::string host = options.address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  int port = 0;
  if (!absl::SimpleAtoi(options.address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http_address '", options.address, "': port must be a number 0-65535"));
  }
  beast::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("http_address '", options.address, "': host must be an IP address or localhost"));
  }
  auto impl = std::make_unique<Impl>();
  impl->tls = options.tls;
  if (!impl->tls) {
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
      return absl::InvalidArgumentError(
          "http_tls_cert_file and http_tls_key_file go together: give both (HTTPS) or neither (HTTP)");
    }
    if (!options.tls_cert_file.empty()) {
      auto loaded = TlsContext::Load(options.tls_cert_file, options.tls_key_file);
      if (!loaded.ok()) return loaded.status();
      impl->tls = std::move(*loaded);
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
  {
    ScopedThreadName named("http-worker");  // asio's pool threads take it
    impl->workers = std::make_unique<asio::thread_pool>(std::max(1, options.worker_threads));
  }
  impl->work.emplace(impl->ioc.get_executor());
  impl->Accept();
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    impl->io_threads.push_back(NamedThread("http-io", [raw = impl.get()] { raw->ioc.run(); }));
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
  // Running handlers finish; their answers are written if the loop still
  // runs (a streamed one's reads and writes each end within its io_timeout).
  impl_->workers->join();
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->io_threads) t.join();
  impl_->io_threads.clear();
  // Connections still awaiting an answer go now, while the io_context they
  // belong to exists; a Responder called later does nothing.
  impl_->answers->Close();
}

}  // namespace switchboard::httpserver
