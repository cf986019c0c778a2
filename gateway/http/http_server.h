#pragma once
// The gateway's HTTP/1.1 server: Boost.Beast, asynchronous, keep-alive, with
// a request body limit (413 beyond it), a header limit and an idle timeout.
//
// I/O runs on `io_threads` threads; each request's handler runs on a
// separate pool of `worker_threads`, so a handler may block on a gRPC call
// without stalling other connections. A handler answers exactly once by
// calling its Responder, from any thread.

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

namespace switchboard::gateway::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string path;    // percent-decoded path, without the query
  // Percent-decoded query parameters; for a repeated key, the first value.
  std::map<std::string, std::string> query;
  // Header names lower-cased.
  std::map<std::string, std::string> headers;
  std::string body;

  // The header value, or "" when absent. `name` must be lower case.
  const std::string& Header(const std::string& name) const;
  // The query parameter, or "" when absent.
  const std::string& Query(const std::string& name) const;
};

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

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Percent-decoding of a URL component ('+' is a space in queries).
std::string UrlDecode(absl::string_view text, bool plus_is_space);
// Splits "a=1&b=2" into decoded pairs; the first value of a key wins.
std::map<std::string, std::string> ParseQuery(absl::string_view query);

}  // namespace switchboard::gateway::http
