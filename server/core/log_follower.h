#pragma once
// core::LogFollower: an engine following the log through the EventHub, for
// the events of one WatchFilter, from the head at Start on. A pass runs when
// the hub wakes it (an event the filter's keys name committed) and hands the
// engine what it found, in order, each event once; passes never overlap (a
// wake during one makes it look again before it ends). Behind the hub's ring
// (an engine that fell that far behind), the pass skips to the head and says
// so: the engine then looks in the store for itself.
//
// The bus queues (notification/queue_deliveries.cc) follow bus events this
// way, and webhook owners (notification/webhooks.cc) their deliveries.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "server/core/event_hub.h"

namespace switchboard::core {

class LogFollower {
 public:
  // The events a pass found, and whether it skipped to the head.
  using OnPass = std::function<void(const std::vector<std::shared_ptr<const EventRecord>>& events, bool behind)>;

  LogFollower(EventHub* hub, WatchFilter filter, OnPass on_pass);
  ~LogFollower();
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // From the head of the log on; the first pass parks in the hub.
  void Start();
  // Waits for a pass under way; no pass runs after it returns (the hub may
  // outlive the follower). Idempotent.
  void Stop();

 private:
  void Pass();

  EventHub* hub_;
  const WatchFilter filter_;
  OnPass on_pass_;
  std::shared_ptr<DetachableWaiter> waker_;
  // Events after cursor_ were not looked at yet.
  std::mutex mu_;
  int64_t cursor_ = 0;
  bool following_ = false, again_ = false;
};

}  // namespace switchboard::core
