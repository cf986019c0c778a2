#pragma once
// switchboardd's HTTP listener (http_address): GET /healthz and GET /metrics
// for operators, and the local blob store's Azure Blob endpoint
// (server/http/blob_http.h) on the same port. Served by the one HTTP server
// (common/http/server.h): plain HTTP or HTTPS, keep-alive, heads parsed by
// Boost.Beast; a head that does not parse is answered 400 (431 when it is
// over 16 KB).
//
// The operator endpoints are answered on the I/O thread, so they never wait
// behind blob transfers; blob requests run on the server's workers with
// their bodies and answers streamed.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http/server.h"
#include "common/http/tls.h"
#include "server/http/blob_http.h"

namespace switchboard::http {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called with the method and the target (path and query) of each request
// that is not the blob endpoint's, on the I/O thread: it must not block.
using Handler = std::function<Response(const std::string& method, const std::string& target)>;

// The listener's sizes, as switchboardd runs it.
struct AdminHttpLimits {
  // Workers for blob requests (each holds one while its transfer runs).
  int worker_threads = 4;
  // Blob requests waiting for a worker at most (beyond, 503 at once), and
  // how long one may wait (then 503 unrun).
  std::size_t queue_limit = 64;
  std::chrono::milliseconds queue_timeout = std::chrono::seconds(30);
  // A connection with no complete request head for this long is closed.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
};

class AdminHttpServer {
 public:
  // Binds `address` ("host:port", port 0 picks one) and starts serving;
  // the blob endpoint when `blob` is set (it must outlive the listener),
  // HTTPS when `tls` is (a failed handshake closes the connection).
  static absl::StatusOr<std::unique_ptr<AdminHttpServer>> Start(const std::string& address, Handler handler,
                                                                 const BlobHttp* blob = nullptr,
                                                                 std::shared_ptr<const httpserver::TlsContext> tls =
                                                                     nullptr,
                                                                 const AdminHttpLimits& limits = {});
  ~AdminHttpServer();

  // "host:port" with the real port.
  const std::string& address() const { return server_->address(); }
  // Stops accepting, lets blob transfers in progress finish, closes.
  void Stop();

 private:
  explicit AdminHttpServer(std::unique_ptr<httpserver::HttpServer> server) : server_(std::move(server)) {}
  std::unique_ptr<httpserver::HttpServer> server_;
};

}  // namespace switchboard::http
