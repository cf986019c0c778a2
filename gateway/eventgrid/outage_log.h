#pragma once
// Logs an outage of something retried for as long as it takes (the Event
// Grid topic): the first failed attempt at once, then at most one line per
// `interval` while the outage lasts, and one line when it ends, with how
// many attempts failed. So an unreachable topic is visible in the logs
// without one line per retry. Thread-safe.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace switchboard::gateway::eventgrid {

class OutageLog {
 public:
  // `what` names the peer in the lines, e.g. "event grid topic".
  explicit OutageLog(std::string what, std::chrono::milliseconds interval = std::chrono::minutes(1));

  // One failed attempt; `error` says why (no secrets).
  void Failed(const std::string& error);
  // An attempt that reached the peer; ends the outage, if any.
  void Succeeded();

 private:
  std::string what_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  int64_t failed_ = 0;  // attempts failed in the current outage
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_logged_;
};

}  // namespace switchboard::gateway::eventgrid
