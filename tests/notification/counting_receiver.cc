#include "tests/notification/counting_receiver.h"

#include <chrono>
#include <thread>

#include "absl/time/clock.h"

namespace switchboard::testing {

CountingReceiver::CountingReceiver(int hold_ms)
    : rx_([this, hold_ms](const client::WebhookReceiver::Request& r) {
        const int now = ++current_;
        int seen = max_.load();
        while (now > seen && !max_.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
        {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = r.headers.find("x-switchboard-event-id");
          if (it != r.headers.end()) ids_.insert(it->second);
          ++requests_;
        }
        --current_;
        return client::WebhookReceiver::Reply{200, {}, 0};
      }) {}

int CountingReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t CountingReceiver::distinct() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ids_.size();
}

bool CountingReceiver::WaitForDistinct(size_t n, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (distinct() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  return distinct() >= n;
}

}  // namespace switchboard::testing
