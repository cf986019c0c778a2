#pragma once
// The gateway's HTTP/1.1 server: Boost.Beast, asynchronous, keep-alive, with
// a request body limit (413 beyond it), a header limit and an idle timeout.
//
// I/O runs on `io_threads` threads; each request's handler runs on a
// separate pool of `worker_threads`, so a handler may block on a gRPC call
// without stalling other connections. A handler answers exactly once by
// calling its Responder, from any thread.
//
// Admission: a `front` hook sees every request first, on the I/O thread, and
// may answer it there (health, metrics, shedding) so that it never queues
// behind work. At most `queue_limit` requests wait for a worker; one more is
// answered 503 at once, and a request that waited `queue_timeout` for a
// worker is answered 503 instead of being run.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/http/request.h"

namespace switchboard::gateway::http {

// The request a handler gets (common/http/request.h).
using Request = httpcore::Request;
using httpcore::ParseQuery;
using httpcore::UrlDecode;

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request, Responder)>;
// Runs on an I/O thread before a request is queued and must not block.
// Returns true when it took the request (it, or work it started, calls the
// Responder once), false to queue the request for a worker.
using FrontHandler = std::function<bool(const Request&, const Responder&)>;
// Called for each request answered 503 by admission: `why` is "queue_full"
// or "queue_timeout". Any thread.
using ShedHook = std::function<void(const Request&, const std::string& why)>;

struct ServerOptions {
  // "host:port"; port 0 picks a free one.
  std::string address = "127.0.0.1:8080";
  // Largest request body accepted; larger ones get 413 and the connection
  // is closed.
  std::size_t body_limit = 1024 * 1024;
  std::size_t header_limit = 16 * 1024;
  int io_threads = 1;
  int worker_threads = 4;
  // A connection with no complete request for this long is closed.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Requests waiting for a worker at most; beyond, 503 at once.
  std::size_t queue_limit = 64;
  // A request that waited this long for a worker is answered 503 unrun.
  std::chrono::milliseconds queue_timeout = std::chrono::seconds(5);
  // PEM files: serve HTTPS (TLS 1.2 or later) instead of HTTP. Both or
  // neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  FrontHandler front;  // optional
  ShedHook on_shed;    // optional
};

class HttpServer {
 public:
  // Binds and starts serving. INVALID_ARGUMENT for a bad address,
  // UNAVAILABLE when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const ServerOptions& options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "host:port" with the bound port.
  const std::string& address() const;
  // Stops accepting, lets running handlers finish, closes connections.
  void Stop();
  // Requests waiting for a worker now.
  std::size_t queued() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchboard::gateway::http
