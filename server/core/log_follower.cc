#include "server/core/log_follower.h"

#include <algorithm>
#include <utility>

namespace switchboard::core {

LogFollower::LogFollower(EventHub* hub, WatchFilter filter, OnPass on_pass)
    : hub_(hub), filter_(std::move(filter)), on_pass_(std::move(on_pass)) {}

LogFollower::~LogFollower() { Stop(); }

void LogFollower::Start() {
  // The hub's waiter: it may outlive the follower, so Stop detaches it.
  waker_ = std::make_shared<DetachableWaiter>([this] { Pass(); });
  {
    std::lock_guard<std::mutex> lock(mu_);
    cursor_ = hub_->head();
  }
  Pass();  // parks the waker in the hub
}

void LogFollower::Stop() {
  if (waker_) waker_->Detach();
}

void LogFollower::Pass() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (following_) {
      again_ = true;
      return;
    }
    following_ = true;
  }
  std::vector<std::shared_ptr<const EventRecord>> events;
  bool behind = false;
  for (;;) {
    int64_t cursor;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cursor = cursor_;
    }
    EventHub::Next next = hub_->NextEvent(cursor, filter_, /*live=*/false, waker_);
    std::lock_guard<std::mutex> lock(mu_);
    if (next.kind == EventHub::NextKind::kEvent) {
      cursor_ = next.event->sequence;
      events.push_back(std::move(next.event));
      continue;
    }
    if (next.kind == EventHub::NextKind::kWait) {
      cursor_ = std::max(cursor_, next.advance_to);
      if (again_) {
        again_ = false;
        continue;
      }
      following_ = false;
      break;
    }
    if (next.kind == EventHub::NextKind::kClosed) {
      following_ = false;
      break;
    }
    // Behind the ring (kReadStore, kLagging): skip to the head.
    cursor_ = hub_->head();
    behind = true;
  }
  if (!events.empty() || behind) on_pass_(events, behind);
}

}  // namespace switchboard::core
