#pragma once
// At most one log line per `interval` for one kind of event that a peer can
// cause at will (refused credentials): a caller hammering an endpoint cannot
// flood the log, and the line that is written says how many were not.
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

namespace switchboard::log {

class LogLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit LogLimiter(std::chrono::milliseconds interval = std::chrono::seconds(1), Clock clock = nullptr);

  // One event. Log it when this returns a value: the number of events not
  // logged since the last line that was (0 when none were dropped).
  std::optional<int64_t> Allow();

 private:
  std::chrono::milliseconds interval_;
  Clock clock_;
  std::mutex mu_;
  bool logged_once_ = false;
  std::chrono::steady_clock::time_point last_;
  int64_t suppressed_ = 0;
};

}  // namespace switchboard::log
