#pragma once
// Fans committed events out to watchers.
//
// Watchers do not queue events: each keeps a cursor (the last sequence it
// sent) and asks the hub for the next matching event. The hub keeps the most
// recent events in a ring; a watcher further behind reads from the store
// (ReadEventsAsync, on the hub's threads, never on the caller's). A caught-up
// watcher parks itself in the hub and is woken when an event it can match
// commits. Memory is therefore bounded per watcher (one event in flight) no
// matter how slow the client is, and there is no gap or duplicate between
// replay and live: both read the same log by sequence.
//
// Who is woken: each watcher registers a Listener with keys (service, kind,
// resource; empty = any). The hub indexes listeners by key, and after a
// commit looks up only the keys of the new events: a commit to service A
// never wakes a watcher of service B, nor a watcher of one run a commit
// about another. A woken watcher is told the first sequence that can match
// it, and scans the ring from there, not from its cursor.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
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

// A key of the hub's wake index: events of `service` (empty: of every
// service, and then kind and resource are ignored), of payload `kind`
// (empty: any), about `resource` as its resource or related resource
// (empty: any).
struct WatchKey {
  std::string service;
  std::string kind;
  std::string resource;
};

// The keys that cover every event `filter` can match (a resource_prefix is
// not indexed: such a filter is woken by every event of its kinds).
std::vector<WatchKey> KeysOf(const WatchFilter& filter);

// A parked watcher; Wake() is called (outside hub locks) when an event it
// may match has committed.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual void Wake() = 0;
};

// A Waiter for an owner the hub may outlive (the hub holds its waiters
// weakly, but may be waking one right now): calls `wake` until Detach.
// Detach waits for a wake under way; later wakes do nothing. A timer that
// must not reach a gone owner can hold it too.
class DetachableWaiter final : public Waiter {
 public:
  explicit DetachableWaiter(std::function<void()> wake) : wake_(std::move(wake)) {}
  void Wake() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (wake_) wake_();
  }
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = nullptr;
  }

 private:
  std::mutex mu_;
  std::function<void()> wake_;
};

class EventHub {
 public:
  struct Options {
    // Events kept in memory for live watchers.
    size_t ring_capacity = 8192;
    // A live watcher more than this many events behind the head is ended
    // with a resumable error.
    int64_t max_lag = 10000;
    // The hub's threads: they find and wake the watchers of each commit (in
    // chunks, each wake may write to a stream) and read the store for
    // watchers replaying from behind the ring.
    int wake_threads = 2;
  };

  EventHub(Store* store, Options options);
  ~EventHub();

  // Called by the store after each durable commit, in sequence order.
  void OnCommitted(std::vector<std::shared_ptr<const EventRecord>> events);

  // A watcher's registration: the keys whose events wake it when it is
  // parked. Made by Listen; the watcher calls Unlisten when it ends (before
  // the hub goes).
  class Listener;
  std::shared_ptr<Listener> Listen(std::weak_ptr<Waiter> waiter);
  void Unlisten(Listener* listener);
  // Keys are counted: a key added twice stays until removed twice. Returns
  // the head of the log when the key took effect: every event after it
  // with that key wakes the listener if it is parked.
  int64_t AddKey(Listener* listener, const WatchKey& key);
  void RemoveKey(Listener* listener, const WatchKey& key);

  enum class NextKind { kEvent, kWait, kReadStore, kLagging, kClosed };
  struct Next {
    NextKind kind;
    std::shared_ptr<const EventRecord> event;
    // For kWait: the cursor may advance to this sequence (nothing after the
    // caller's cursor matched up to it).
    int64_t advance_to = 0;
  };

  // The next event after `after` for which `matches` is true (called under
  // the hub's lock; it must only read). If none is ready, parks `listener`
  // (kWait): it is woken when an event with one of its keys commits. `live`
  // tells whether the watcher has caught up before (only live watchers can
  // lag).
  Next NextEvent(int64_t after, absl::FunctionRef<bool(const EventRecord&)> matches, bool live,
                 Listener* listener);
  // The same for a watcher with one filter, listening on KeysOf(filter)
  // (registered on its first call, dropped when `waiter` is gone).
  Next NextEvent(int64_t after, const WatchFilter& filter, bool live, const std::weak_ptr<Waiter>& waiter);

  // Reads the store on a hub thread and calls `done` there with up to
  // `limit` events after `after` (of `service` if not empty). False, with
  // `done` never called, once the hub is being destroyed.
  using ReadDone = std::function<void(absl::StatusOr<EventBatch>)>;
  bool ReadEventsAsync(int64_t after, int limit, std::string service, ReadDone done);
  // Runs `read` on a hub thread: another store read a watch needs before
  // it can go on (the lookup of the resource it names, before it starts),
  // so that no gRPC reaction waits for it. False, with `read` never run,
  // once the hub is being destroyed.
  bool RunReadAsync(std::function<void()> read);

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

  struct Stats {
    // Wake() calls made (one per parked listener an event could match).
    int64_t wakes = 0;
    // Every event up to this sequence has had its listeners found and
    // counted in `wakes` (their Wake() calls may still be running).
    int64_t dispatched_through = 0;
    // Listeners registered, and those parked now.
    int64_t listeners = 0;
    int64_t parked = 0;
    // Store reads done for watchers: replays (ReadEventsAsync) and lookups
    // before a watch starts (RunReadAsync).
    int64_t store_reads = 0;
  };
  Stats stats() const;

 private:
  struct WakeBatch;
  // A queued store read: ReadEventsAsync's or RunReadAsync's.
  using Read = std::function<void()>;

  void WorkLoop();
  bool WakeWorkLocked() const;
  // Wakes the parked listeners of the events after dispatched_through_.
  // Called with `lock` held and dispatching_ set; unlocks while it works
  // out the events' keys.
  void DispatchLocked(std::unique_lock<std::mutex>& lock);
  void StartBatchLocked(std::vector<std::weak_ptr<Waiter>> waiters);
  void AddKeyLocked(Listener* l, const std::string& key);
  void UnlistenLocked(Listener* l);

  Store* store_;
  Options options_;

  mutable std::mutex mu_;
  std::deque<std::shared_ptr<const EventRecord>> ring_;
  int64_t head_ = 0;
  bool closed_ = false;
  int64_t watchers_ = 0;

  // Every listener, and the index: key -> listeners with that key.
  absl::flat_hash_set<Listener*> listeners_;
  absl::flat_hash_map<std::string, absl::flat_hash_set<Listener*>> index_;
  // Listeners of the one-filter NextEvent, by waiter.
  absl::flat_hash_map<const Waiter*, std::shared_ptr<Listener>> implicit_;

  // Dispatch: events up to dispatched_through_ have woken their listeners;
  // one thread at a time works out the next round.
  int64_t dispatched_through_ = 0;
  uint64_t round_ = 0;
  uint64_t parkings_ = 0;
  bool dispatching_ = false;
  bool close_pending_ = false;
  // Rounds worked out this far: their wakes are in batches_.
  int64_t woken_through_ = 0;
  // Listeners being woken, oldest first; hub threads claim them in chunks.
  std::deque<std::shared_ptr<WakeBatch>> batches_;
  std::deque<Read> reads_;

  int64_t wakes_ = 0;
  int64_t store_reads_ = 0;

  // The hub's threads: the store's commit thread never waits on thousands
  // of stream writes, and no gRPC reaction waits on a store read.
  std::condition_variable work_cv_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace switchboard::core
