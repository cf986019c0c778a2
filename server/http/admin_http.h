#pragma once
// A small HTTP/1.1 listener for operators: GET /healthz and GET /metrics.
// One thread, one short request per connection; it serves probes and
// scrapes, not traffic. Request heads are parsed by Boost.Beast's parser
// (common/http/parse.h), as the gateway's are; a head that does not parse is
// answered 400 (431 when it is over 16 KB).

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/http/request.h"

namespace switchboard::http {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called with the method and path (query included).
using Handler = std::function<Response(const std::string& method, const std::string& path)>;

// Optional: sees each connection first, with its parsed request head and
// the body bytes read with it. Returning true means it took the connection:
// it answers and closes the socket itself (the blob endpoint,
// server/http/blob_http.h).
using RawHook = std::function<bool(int fd, httpcore::Request& head, std::string& body_start)>;

class AdminHttpServer {
 public:
  // Binds `address` ("host:port", port 0 picks one) and starts serving.
  static absl::StatusOr<std::unique_ptr<AdminHttpServer>> Start(const std::string& address, Handler handler,
                                                                 RawHook raw_hook = nullptr);
  ~AdminHttpServer();

  // "host:port" with the real port.
  const std::string& address() const { return address_; }
  void Stop();

 private:
  AdminHttpServer() = default;
  void Loop();

  int fd_ = -1;
  std::string address_;
  Handler handler_;
  RawHook raw_hook_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace switchboard::http
