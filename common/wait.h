#pragma once
// Calling an asynchronous function (one that answers through a callback,
// possibly on another thread) and waiting for its answer.

#include <functional>
#include <future>

#include "absl/status/statusor.h"

namespace switchboard {

// Runs `start` with a callback and returns what the callback is given.
template <class T>
absl::StatusOr<T> Wait(const std::function<void(std::function<void(absl::StatusOr<T>)>)>& start) {
  std::promise<absl::StatusOr<T>> p;
  auto f = p.get_future();
  start([&p](absl::StatusOr<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace switchboard
