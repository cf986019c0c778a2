#pragma once
// A webhook receiver for the cap and failover tests: answers 200 after
// holding each request `hold_ms`, and counts the most requests it answered at
// once, the requests, and the distinct event ids (x-switchboard-event-id).

#include <atomic>
#include <mutex>
#include <set>
#include <string>

#include "absl/time/time.h"
#include "clients/lib/webhook_receiver.h"

namespace switchboard::testing {

class CountingReceiver {
 public:
  explicit CountingReceiver(int hold_ms);
  std::string url() const { return rx_.url(); }
  int max_in_flight() const { return max_.load(); }
  int requests() const;
  size_t distinct() const;
  // True once `n` distinct event ids arrived, within `timeout`.
  bool WaitForDistinct(size_t n, absl::Duration timeout) const;

 private:
  std::atomic<int> current_{0};
  std::atomic<int> max_{0};
  mutable std::mutex mu_;
  std::set<std::string> ids_;
  int requests_ = 0;
  // Last: it stops (and its threads end) before the counters go.
  client::WebhookReceiver rx_;
};

}  // namespace switchboard::testing
