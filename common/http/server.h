#pragma once
// The one HTTP/1.1 server of Switchboard's listeners (the gateway's, and
// switchboardd's admin and blob listener): Boost.Beast, asynchronous,
// keep-alive, HTTP or HTTPS, with a header limit, an idle timeout, and a
// request body limit (413 beyond it).
//
// I/O runs on `io_threads` threads; each request's handler runs on a
// separate pool of `worker_threads`, so a handler may block (on a gRPC call,
// on disk) without stalling other connections. A handler answers exactly
// once by calling its Responder, from any thread; a second answer is
// dropped, and a Responder dropped unanswered closes its connection. A
// Responder may outlive the server: Stop closes the connections that still
// await an answer, and one given after Stop is dropped.
//
// Admission: a `front` hook sees every buffered request first, on the I/O
// thread, and may answer it there (health, metrics, shedding) so that it
// never queues behind work. At most `queue_limit` requests wait for a
// worker; one more is answered 503 at once, and a request that waited
// `queue_timeout` for a worker is answered 503 instead of being run.
//
// Streamed routes (StreamRoute) take a request by its head alone: their
// handler runs on a worker with an Exchange (common/http/exchange.h) that
// reads the body and writes the answer piece by piece, each step bounded
// by the route's io_timeout. Every other request is read whole (up to
// `body_limit`) before `front` and the Handler see it. HEAD answers carry
// no body. "Expect: 100-continue" is answered before a body is read.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/http/exchange.h"
#include "common/http/request.h"
#include "common/http/response.h"
#include "common/http/tls.h"

namespace switchboard::httpserver {

// The request a handler gets (common/http/request.h).
using Request = httpcore::Request;
using httpcore::ParseQuery;
using httpcore::UrlDecode;

using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request, Responder)>;
// Runs on an I/O thread before a request is queued and must not block.
// Returns true when it took the request (it, or work it started, calls the
// Responder once), false to queue the request for a worker.
using FrontHandler = std::function<bool(const Request&, const Responder&)>;
// Called for each request answered 503 by admission: `why` is "queue_full"
// or "queue_timeout". Any thread.
using ShedHook = std::function<void(const Request&, const std::string& why)>;

// Requests whose body is streamed and whose answer may be.
struct StreamRoute {
  // Sees each request's head on the I/O thread (must not block); true
  // takes the request.
  std::function<bool(const Request& head)> match;
  // Runs on a worker, after admission.
  std::function<void(Exchange&)> handler;
  // ReadBody never reads past this many bytes (INVALID_ARGUMENT beyond).
  // The handler sees the Content-Length first and may refuse it in its own
  // terms.
  std::uint64_t body_limit = 1024 * 1024;
  // Each read of the body and each write of the answer waits at most this
  // long.
  std::chrono::milliseconds io_timeout = std::chrono::seconds(30);
};

struct ServerOptions {
  // "host:port" (an IP address or localhost); port 0 picks a free one.
  std::string address = "127.0.0.1:8080";
  // Largest buffered request body; larger ones get 413 and the connection
  // is closed.
  std::size_t body_limit = 1024 * 1024;
  std::size_t header_limit = 16 * 1024;
  int io_threads = 1;
  int worker_threads = 4;
  // A connection with no complete request for this long is closed (the TLS
  // handshake gets as long).
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Requests waiting for a worker at most; beyond, 503 at once.
  std::size_t queue_limit = 64;
  // A request that waited this long for a worker is answered 503 unrun.
  std::chrono::milliseconds queue_timeout = std::chrono::seconds(5);
  // PEM files: serve HTTPS (TLS 1.2 or later) instead of HTTP. Both or
  // neither; errors name them http_tls_cert_file and http_tls_key_file.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Or a certificate loaded already (it wins over the files).
  std::shared_ptr<const TlsContext> tls;
  // The Server header of every answer; none when empty.
  std::string server_name;
  FrontHandler front;  // optional
  ShedHook on_shed;    // optional
  // Checked in order, after the head is read and before its body is.
  std::vector<StreamRoute> streams;
};

class HttpServer {
 public:
  // Binds and starts serving; `handler` (optional when `front` takes every
  // request: else 404) runs buffered requests on the workers.
  // INVALID_ARGUMENT for a bad address or TLS files, UNAVAILABLE when the
  // port cannot be bound.
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

}  // namespace switchboard::httpserver
