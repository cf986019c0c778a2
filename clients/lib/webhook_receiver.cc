#include "clients/lib/webhook_receiver.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <exception>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace switchboard::client {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct WebhookReceiver::Impl {
  Handler handler;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread accept_thread;
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::vector<Request> received;
  // The count each WaitFor waits for: a request wakes the waiters only once
  // the least of them is reached, not on every request (a benchmark's waiter
  // woken 20,000 times a second costs the receiver a futex call on each).
  std::multiset<size_t> wanted;
  std::vector<std::shared_ptr<tcp::socket>> sockets;
  std::vector<std::thread> conns;
  bool stopping = false;

  void Serve(std::shared_ptr<tcp::socket> sock) {
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(*sock, buf, req, ec);
      if (ec) return;
      Request r;
      r.target = std::string(req.target());
      for (const auto& f : req) r.headers[absl::AsciiStrToLower(std::string(f.name_string()))] = std::string(f.value());
      r.body = std::move(req.body());
      Reply reply;
      try {
        reply = handler(r);
      } catch (const std::exception&) {
        reply = Reply{500, {}, 0};  // a broken handler must not take the process down
      }
      {
        std::unique_lock<std::mutex> lock(mu);
        received.push_back(std::move(r));
        if (!wanted.empty() && received.size() >= *wanted.begin()) cv.notify_all();
        if (reply.delay_ms > 0) {
          cv.wait_for(lock, std::chrono::milliseconds(reply.delay_ms), [&] { return stopping; });
        }
        if (stopping) return;
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
      for (const auto& [k, v] : reply.headers) res.set(k, v);
      res.body() = "ok";
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(*sock, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }
};

namespace {

// "cannot listen on 127.0.0.1:9000: address already in use".
absl::Status ListenError(int port, const boost::system::error_code& ec) {
  std::string why = ec.message();
  if (!why.empty()) why[0] = absl::ascii_tolower(static_cast<unsigned char>(why[0]));
  std::string message = absl::StrCat("cannot listen on 127.0.0.1:", port, ": ", why);
  if (ec == asio::error::access_denied) return absl::PermissionDeniedError(message);
  return absl::UnavailableError(message);
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebhookReceiver>> WebhookReceiver::Listen(Handler handler, int port) {
  auto receiver = std::make_unique<WebhookReceiver>(std::move(handler), port);
  if (!receiver->status().ok()) return receiver->status();
  return receiver;
}

WebhookReceiver::WebhookReceiver(Handler handler, int port) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  if (port < 0 || port > 65535) {
    status_ = absl::InvalidArgumentError(absl::StrCat("port ", port, " is not 0 to 65535"));
    return;
  }
  tcp::endpoint ep(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port));
  boost::system::error_code ec;
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) port_ = impl_->acceptor.local_endpoint(ec).port();
  if (ec) {
    status_ = ListenError(port, ec);
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    return;
  }
  Impl* im = impl_.get();
  try {
    impl_->accept_thread = std::thread([im] {
      for (;;) {
        auto sock = std::make_shared<tcp::socket>(im->io);
        boost::system::error_code ec;
        im->acceptor.accept(*sock, ec);
        std::lock_guard<std::mutex> lock(im->mu);
        if (ec || im->stopping) return;
        try {
          im->conns.emplace_back([im, sock] { im->Serve(sock); });
          im->sockets.push_back(sock);
        } catch (const std::system_error&) {
          // No thread for this connection (resources exhausted): drop it.
        }
      }
    });
  } catch (const std::system_error& e) {
    status_ = absl::ResourceExhaustedError(absl::StrCat("cannot start the receiver thread: ", e.what()));
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
  }
}

WebhookReceiver::~WebhookReceiver() { Stop(); }

void WebhookReceiver::Stop() {
  if (!impl_->accept_thread.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    boost::system::error_code ec;
    // shutdown() wakes a connection thread blocked in recv(); the socket is
    // closed only after that thread is joined (closing an fd another thread
    // is reading is a race, and the number could be reused meanwhile).
    for (auto& s : impl_->sockets) s->shutdown(tcp::socket::shutdown_both, ec);
    impl_->cv.notify_all();
  }
  boost::system::error_code ec;
  impl_->acceptor.cancel(ec);
  // accept() is blocking: poke it with a connection so it returns.
  {
    tcp::socket poke(impl_->io);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)), ec);
  }
  impl_->accept_thread.join();
  impl_->acceptor.close(ec);
  for (auto& t : impl_->conns) t.join();
  impl_->conns.clear();
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& s : impl_->sockets) s->close(ec);
}

std::string WebhookReceiver::url() const { return absl::StrCat("http://127.0.0.1:", port_, "/hook"); }

std::vector<WebhookReceiver::Request> WebhookReceiver::received() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->received;
}

bool WebhookReceiver::WaitFor(size_t n, int timeout_ms) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  const auto wanted = impl_->wanted.insert(n);
  const bool arrived =
      impl_->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return impl_->received.size() >= n; });
  impl_->wanted.erase(wanted);
  return arrived;
}

}  // namespace switchboard::client
