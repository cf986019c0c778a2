#pragma once
// A small HTTP/1.1 listener for operators: GET /healthz and GET /metrics.
// One thread, one short request per connection; it serves probes and
// scrapes, not traffic. (The blob endpoint of the media issue and the
// gateway use Boost.Beast.)

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace switchboard::http {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called with the method and path (query included).
using Handler = std::function<Response(const std::string& method, const std::string& path)>;

// Optional: sees each connection first, with what was read of it (the
// request head, and any body bytes that came with it). Returning true means
// it took the connection: it answers and closes the socket itself (the blob
// endpoint, server/http/blob_http.h).
using RawHook = std::function<bool(int fd, const std::string& received)>;

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
