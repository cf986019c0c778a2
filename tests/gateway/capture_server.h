#pragma once
// A local HTTP endpoint that plays the Event Grid topic in tests: records
// every POST (key header and parsed JSON array) and can be told to fail the
// next N requests with a status code.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/server.h"

namespace switchboard::testing {

class CaptureServer {
 public:
  CaptureServer();
  ~CaptureServer();

  std::string url() const { return "http://" + server_->address() + "/api/events"; }
  // The next `n` POSTs are answered with `status` and not recorded.
  void FailNext(int n, int status);

  // Every event received so far, in arrival order.
  std::vector<nlohmann::json> Events() const;
  // POST bodies received (each a JSON array), and the aeg-sas-key headers.
  std::vector<std::string> Bodies() const;
  std::vector<std::string> Keys() const;
  int posts() const { return posts_.load(); }
  // Waits until at least `n` events arrived; false on timeout.
  bool WaitForEvents(size_t n, std::chrono::milliseconds timeout) const;

 private:
  std::unique_ptr<httpserver::HttpServer> server_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<nlohmann::json> events_;
  std::vector<std::string> bodies_;
  std::vector<std::string> keys_;
  int fail_next_ = 0;
  int fail_status_ = 503;
  std::atomic<int> posts_{0};
};

}  // namespace switchboard::testing
