#pragma once
// Fans committed events out to watchers.
//
// Watchers do not queue events: each keeps a cursor (the last sequence it
// sent) and asks the hub for the next matching event. The hub keeps the most
// recent events in a ring; a watcher further behind reads from the store. A
// caught-up watcher parks itself in the hub and is woken when new events
// commit. Memory is therefore bounded per watcher (one event in flight) no
// matter how slow the client is, and there is no gap or duplicate between
// replay and live: both read the same log by sequence.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/core/store.h"

namespace switchboard::core {

// What a watch wants to see.
struct WatchFilter {
  std::string service;
  // Payload kinds to include; empty means all.
  std::vector<std::string> kinds;
  // If non-empty, the event's resource or related resource must equal it.
  std::string resource;
  // If non-empty, the event's resource must start with it.
  std::string resource_prefix;

  bool Matches(const EventRecord& e) const;
};

// A parked watcher; Wake() is called (outside hub locks) when new events
// have committed.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual void Wake() = 0;
};

class EventHub {
 public:
  struct Options {
    // Events kept in memory for live watchers.
    size_t ring_capacity = 8192;
    // A live watcher more than this many events behind the head is ended
    // with a resumable error.
    int64_t max_lag = 10000;
    // Threads that wake parked watchers after a commit. Each wake may write
    // to a stream, so with thousands of watchers the work is shared out in
    // chunks.
    int wake_threads = 2;
  };

  EventHub(Store* store, Options options);
  ~EventHub();

  // Called by the store after each durable commit, in sequence order.
  void OnCommitted(std::vector<std::shared_ptr<const EventRecord>> events);

  enum class NextKind { kEvent, kWait, kReadStore, kLagging, kClosed };
  struct Next {
    NextKind kind;
    std::shared_ptr<const EventRecord> event;
    // For kWait: the cursor may advance to this sequence (nothing after the
    // caller's cursor matched up to it).
    int64_t advance_to = 0;
  };

  // The next event after `after` that matches `filter`. If none is ready,
  // parks `waiter` (kWait) so it is woken on the next commit. `live` tells
  // whether the watcher has caught up before (only live watchers can lag).
  Next NextEvent(int64_t after, const WatchFilter& filter, bool live, const std::weak_ptr<Waiter>& waiter);

  int64_t head() const;
  Store* store() const { return store_; }
  const Options& options() const { return options_; }

  // Wakes every parked watcher and makes NextEvent answer kClosed from now
  // on, so that watches end cleanly at shutdown.
  void Close();
  bool closed() const;

  // Number of watches currently open (maintained by the watch reactors).
  void AddWatcher(int delta);
  int64_t watchers() const;

 private:
  void NotifyLoop();

  Store* store_;
  Options options_;

  mutable std::mutex mu_;
  std::deque<std::shared_ptr<const EventRecord>> ring_;
  int64_t head_ = 0;
  bool closed_ = false;
  std::vector<std::weak_ptr<Waiter>> parked_;
  int64_t watchers_ = 0;

  // The watchers being woken after the latest commit; wake threads claim
  // them in chunks.
  struct WakeBatch {
    std::vector<std::weak_ptr<Waiter>> waiters;
    std::atomic<size_t> next{0};
    bool claimed() const { return next.load(std::memory_order_relaxed) >= waiters.size(); }
  };
  std::shared_ptr<WakeBatch> batch_;

  // Wakes run on their own thread so that the store's commit thread never
  // waits on thousands of stream writes.
  std::condition_variable notify_cv_;
  bool notify_pending_ = false;
  bool stopping_ = false;
  std::vector<std::thread> notify_threads_;
};

}  // namespace switchboard::core
