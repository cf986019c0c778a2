#include "server/http/admin_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http/parse.h"

namespace switchboard::http {
namespace {

constexpr size_t kHeaderLimit = 16 * 1024;

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

bool SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  if (!address.empty() && address[0] == '[') {
    auto close = address.find(']');
    if (close == std::string::npos || close + 2 > address.size() || address[close + 1] != ':') return false;
    *host = address.substr(1, close - 1);
    *port = address.substr(close + 2);
    return true;
  }
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminHttpServer>> AdminHttpServer::Start(const std::string& address,
                                                                        Handler handler, RawHook raw_hook,
                                                                        std::shared_ptr<TlsServer> tls) {
  std::string host, port;
  if (!SplitHostPort(address, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("--http_address '", address, "' must be host:port"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--http_address '", address, "' cannot be resolved"));
  }
  auto server = std::unique_ptr<AdminHttpServer>(new AdminHttpServer());
  server->handler_ = std::move(handler);
  server->raw_hook_ = std::move(raw_hook);
  server->tls_ = std::move(tls);
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
    std::string err = std::strerror(errno);
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return absl::UnavailableError(absl::StrCat("cannot listen on --http_address ", address, ": ", err));
  }
  freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int real_port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  server->fd_ = fd;
  server->address_ = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", real_port)
                                                         : absl::StrCat(host, ":", real_port);
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

AdminHttpServer::~AdminHttpServer() { Stop(); }

void AdminHttpServer::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void AdminHttpServer::Loop() {
  BlockSigpipeInThisThread();
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    std::unique_ptr<Conn> conn;
    if (tls_) {
      auto accepted = tls_->Accept(c);  // a plain-HTTP client, or a stalled one, ends here
      if (!accepted.ok()) continue;
      conn = std::move(*accepted);
    } else {
      conn = PlainConn(c);
    }
    std::string received;
    httpcore::Parsed head;
    const httpcore::ParseLimits limits{kHeaderLimit, 0, /*head_only=*/true};
    char buf[4096];
    while (true) {
      ssize_t n = conn->Read(buf, sizeof(buf));
      if (n <= 0) break;
      received.append(buf, static_cast<size_t>(n));
      head = httpcore::ParseRequest(received, limits);
      if (head.state != httpcore::Parsed::State::kIncomplete) break;
    }
    if (head.state == httpcore::Parsed::State::kIncomplete && received.empty()) {
      continue;  // a connection closed (or idle) before it sent anything: a port probe
    }
    if (head.state == httpcore::Parsed::State::kIncomplete) {
      head.state = httpcore::Parsed::State::kRefused;
      head.status = 400;
      head.error = "incomplete HTTP request head: the connection closed or stalled before the blank line";
    }
    Response resp;
    if (head.state == httpcore::Parsed::State::kRefused) {
      resp = {head.status, "text/plain; charset=utf-8", head.error + "\n"};
    } else {
      std::string body_start = received.substr(head.consumed);
      if (raw_hook_ && raw_hook_(conn, head.request, body_start)) continue;
      resp = handler_(head.request.method, head.request.target);
    }
    conn->WriteAll(absl::StrCat("HTTP/1.1 ", resp.status, " ", Reason(resp.status),
                                "\r\nContent-Type: ", resp.content_type, "\r\nContent-Length: ", resp.body.size(),
                                "\r\nConnection: close\r\n\r\n", resp.body));
  }
}

}  // namespace switchboard::http
