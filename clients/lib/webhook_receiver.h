#pragma once
// A small HTTP/1.1 server on 127.0.0.1 (Boost.Beast, one thread per
// connection, keep-alive) that plays a webhook receiver: it records every
// request and answers as its handler says, optionally after a delay (a
// handler that throws is answered 500). Used by `sbctl webhook listen`,
// `sbctl eventgrid listen`, the tests and the benchmark.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace switchboard::client {

class WebhookReceiver {
 public:
  struct Request {
    std::string target;
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;
  };
  struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    int delay_ms = 0;
  };
  using Handler = std::function<Reply(const Request&)>;

  // Listens on 127.0.0.1:`port` (0 = a free port). Where the port comes
  // from a user, prefer this: a port in use is an error, never an exception:
  // UNAVAILABLE "cannot listen on 127.0.0.1:9000: address already in use"
  // (PERMISSION_DENIED for a port below 1024 without the right to it).
  static absl::StatusOr<std::unique_ptr<WebhookReceiver>> Listen(Handler handler, int port = 0);

  // As Listen, for tests and tools that pick a free port. It throws nothing:
  // when it cannot listen, status() says why and it receives nothing.
  explicit WebhookReceiver(Handler handler, int port = 0);
  ~WebhookReceiver();
  void Stop();

  const absl::Status& status() const { return status_; }

  int port() const { return port_; }
  std::string url() const;
  std::vector<Request> received() const;
  // Waits until `n` requests have arrived; false on timeout.
  bool WaitFor(size_t n, int timeout_ms = 10000) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  absl::Status status_;
};

}  // namespace switchboard::client
