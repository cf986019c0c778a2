#include "common/log_limiter.h"

namespace switchboard::log {

LogLimiter::LogLimiter(std::chrono::milliseconds interval, Clock clock)
    : interval_(interval), clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }) {}

std::optional<int64_t> LogLimiter::Allow() {
  const auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  if (logged_once_ && now - last_ < interval_) {
    ++suppressed_;
    return std::nullopt;
  }
  logged_once_ = true;
  last_ = now;
  const int64_t dropped = suppressed_;
  suppressed_ = 0;
  return dropped;
}

}  // namespace switchboard::log
