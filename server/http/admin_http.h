#pragma once
// A small HTTP/1.1 listener for operators: GET /healthz and GET /metrics.
// One thread, one short request per connection; it serves probes and
// scrapes, not traffic. Plain HTTP or HTTPS (server/http/conn.h). Request heads are parsed by Boost.Beast's parser
// (common/http/parse.h), as the gateway's are; a head that does not parse is
// answered 400 (431 when it is over 16 KB).

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/http/request.h"
#include "server/http/conn.h"

namespace switchboard::http {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called with the method and path (query included).
using Handler = std::function<Response(const std::string& method, const std::string& path)>;

// Optional: sees each connection first, with its parsed request head and
// the body bytes read with it. Returning true means it took the connection
// (moved out of `conn`): it answers and closes it itself (the blob
// endpoint, server/http/blob_http.h).
using RawHook = std::function<bool(std::unique_ptr<Conn>& conn, httpcore::Request& head, std::string& body_start)>;

class AdminHttpServer {
 public:
  // Binds `address` ("host:port", port 0 picks one) and starts serving;
  // HTTPS when `tls` is set (a failed handshake closes the connection).
  static absl::StatusOr<std::unique_ptr<AdminHttpServer>> Start(const std::string& address, Handler handler,
                                                                 RawHook raw_hook = nullptr,
                                                                 std::shared_ptr<TlsServer> tls = nullptr);
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
  std::shared_ptr<TlsServer> tls_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace switchboard::http
