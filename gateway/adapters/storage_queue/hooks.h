#pragma once
// How the queue adapter reports counters and errors without depending on
// the gateway's Metrics class (the gateway binds these to it). Unset hooks
// do nothing.

#include <cstdint>
#include <functional>
#include <string>

namespace switchboard::gateway::storage_queue {

struct Hooks {
  // A counter `switchboard_gateway_<name>_total` grows by n.
  std::function<void(const std::string& name, const std::string& help, uint64_t n)> count;
  // One more error of `kind`.
  std::function<void(const std::string& kind)> error;

  void Count(const std::string& name, const std::string& help, uint64_t n = 1) const {
    if (count) count(name, help, n);
  }
  void Error(const std::string& kind) const {
    if (error) error(kind);
  }
};

}  // namespace switchboard::gateway::storage_queue
