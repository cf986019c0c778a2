// The EventHub's wake index: a commit wakes only the parked watchers whose
// keys (service, kind, resource) its events have, tells them where their
// first event is, and never loses a wake (ring overflow, close). Store reads
// for replay run on the hub's threads.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "server/core/event_hub.h"
#include "server/core/store.h"
#include "tests/core/test_support.h"

namespace switchboard::core {
namespace {

using switchboard::testing::TempDir;
using Clock = std::chrono::steady_clock;

class CountingWaiter : public Waiter {
 public:
  void Wake() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakes_;
    cv_.notify_all();
  }
  int wakes() {
    std::lock_guard<std::mutex> lock(mu_);
    return wakes_;
  }
  // True once woken at least `n` times (waits up to 10 s).
  bool WaitWakes(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return wakes_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int wakes_ = 0;
};

struct Hub {
  explicit Hub(EventHub::Options options = {}) {
    auto s = OpenSqliteStore({dir.path() + "/switchboard.db"});
    EXPECT_TRUE(s.ok()) << s.status();
    store = std::move(*s);
    hub = std::make_unique<EventHub>(store.get(), options);
    store->SetCommitListener([h = hub.get()](auto events) { h->OnCommitted(std::move(events)); });
  }
  ~Hub() {
    store->Close();
    hub.reset();
  }

  int64_t Commit(const std::string& service, const std::string& kind, const std::string& resource,
                 const std::string& related = "") {
    Mutation m;
    m.events.push_back({service, kind, resource, related, ""});
    m.make_response = [](int64_t) { return std::string(); };
    auto r = store->Commit(std::move(m));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->last_sequence : 0;
  }

  // Waits until every event up to `seq` has had its watchers found.
  bool Dispatched(int64_t seq) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (hub->stats().dispatched_through < seq) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  TempDir dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<EventHub> hub;
};

// A waiter listening on a filter's keys, parked at the head.
struct Parked {
  Parked(EventHub* hub, WatchFilter f) : filter(std::move(f)) {
    waiter = std::make_shared<CountingWaiter>();
    listener = hub->Listen(waiter);
    for (const auto& key : KeysOf(filter)) hub->AddKey(listener.get(), key);
    auto next = hub->NextEvent(
        hub->head(), [this](const EventRecord& e) { return filter.Matches(e); }, false, listener.get());
    EXPECT_EQ(next.kind, EventHub::NextKind::kWait);
  }
  WatchFilter filter;
  std::shared_ptr<CountingWaiter> waiter;
  std::shared_ptr<EventHub::Listener> listener;
};

WatchFilter Filter(const std::string& service, const std::string& resource = "",
                   std::vector<std::string> kinds = {}) {
  WatchFilter f;
  f.service = service;
  f.resource = resource;
  f.kinds = std::move(kinds);
  return f;
}

TEST(EventHub, ACommitToOneServiceDoesNotWakeAWatcherOfAnother) {
  Hub h;
  Parked media(h.hub.get(), Filter("media"));
  Parked notification(h.hub.get(), Filter("notification"));
  const int64_t before = h.hub->stats().wakes;

  const int64_t seq = h.Commit("notification", "bus_event", "busEvents/a");
  ASSERT_TRUE(notification.waiter->WaitWakes(1));
  ASSERT_TRUE(h.Dispatched(seq));
  EXPECT_EQ(media.waiter->wakes(), 0) << "a notification commit woke a media watcher";
  EXPECT_EQ(h.hub->stats().wakes - before, 1) << "one commit, one watcher it can match";

  h.Commit("media", "storage", "blobs/x");
  ASSERT_TRUE(media.waiter->WaitWakes(1));
  EXPECT_EQ(notification.waiter->wakes(), 1) << "the notification watcher was not parked again: no wake";
}

TEST(EventHub, AResourceWatcherIsWokenOnlyByItsResourceOrRelated) {
  Hub h;
  Parked run(h.hub.get(), Filter("resourcing", "runs/1"));
  Parked all(h.hub.get(), Filter("resourcing"));
  const int64_t other = h.Commit("resourcing", "run", "runs/2", "workspaces/FISH");
  ASSERT_TRUE(all.waiter->WaitWakes(1));
  ASSERT_TRUE(h.Dispatched(other));
  EXPECT_EQ(run.waiter->wakes(), 0) << "an event about runs/2 woke the watcher of runs/1";

  h.Commit("resourcing", "step", "steps/9", "runs/1");
  ASSERT_TRUE(run.waiter->WaitWakes(1)) << "an event related to runs/1 must wake its watcher";
}

TEST(EventHub, AKindWatcherIsNotWokenByOtherKinds) {
  Hub h;
  Parked apps(h.hub.get(), Filter("notification", "", {"application"}));
  Parked bus(h.hub.get(), Filter("notification"));
  int64_t last = 0;
  for (int i = 0; i < 20; ++i) last = h.Commit("notification", "bus_event", "busEvents/" + std::to_string(i));
  ASSERT_TRUE(bus.waiter->WaitWakes(1));
  ASSERT_TRUE(h.Dispatched(last));
  EXPECT_EQ(apps.waiter->wakes(), 0);
  h.Commit("notification", "application", "applications/a");
  ASSERT_TRUE(apps.waiter->WaitWakes(1));
}

TEST(EventHub, AWokenWatcherStartsAtItsFirstEventNotAtItsCursor) {
  Hub h;
  Parked run(h.hub.get(), Filter("resourcing", "runs/1"));
  const int64_t start = h.hub->head();
  for (int i = 0; i < 50; ++i) h.Commit("resourcing", "run", "runs/2");
  const int64_t wanted = h.Commit("resourcing", "run", "runs/1");
  ASSERT_TRUE(run.waiter->WaitWakes(1));
  int looked_at = 0;
  auto next = h.hub->NextEvent(
      start,
      [&](const EventRecord& e) {
        ++looked_at;
        return run.filter.Matches(e);
      },
      true, run.listener.get());
  ASSERT_EQ(next.kind, EventHub::NextKind::kEvent);
  EXPECT_EQ(next.event->sequence, wanted);
  EXPECT_EQ(looked_at, 1) << "the 50 events about runs/2 before it cannot match and are not looked at";
}

TEST(EventHub, EventsThatLeftTheRingBeforeTheirWakeStillWake) {
  EventHub::Options options;
  options.ring_capacity = 2;
  Hub h(options);
  Parked run(h.hub.get(), Filter("resourcing", "runs/1"));
  // Five events in one commit: the first, about runs/1, is out of the ring
  // before any hub thread looks at it.
  std::vector<std::shared_ptr<const EventRecord>> events;
  for (int64_t seq = 1; seq <= 5; ++seq) {
    auto e = std::make_shared<EventRecord>();
    e->sequence = seq;
    e->service = "resourcing";
    e->kind = "run";
    e->resource = seq == 1 ? "runs/1" : "runs/2";
    events.push_back(std::move(e));
  }
  h.hub->OnCommitted(std::move(events));
  ASSERT_TRUE(run.waiter->WaitWakes(1)) << "a wake was lost with the ring's oldest events";
  auto next = h.hub->NextEvent(
      0, [&](const EventRecord& e) { return run.filter.Matches(e); }, true, run.listener.get());
  EXPECT_EQ(next.kind, EventHub::NextKind::kReadStore);
}

TEST(EventHub, AKeyAddedWhileParkedWakesForLaterEvents) {
  Hub h;
  Parked stream(h.hub.get(), Filter("resourcing", "runs/1"));
  const int64_t head = h.hub->AddKey(stream.listener.get(), WatchKey{"resourcing", "", "runs/2"});
  EXPECT_EQ(head, h.hub->head());
  h.Commit("resourcing", "run", "runs/2");
  ASSERT_TRUE(stream.waiter->WaitWakes(1));
  // Removed again: no wake for it.
  auto next = h.hub->NextEvent(
      h.hub->head(), [](const EventRecord&) { return false; }, true, stream.listener.get());
  ASSERT_EQ(next.kind, EventHub::NextKind::kWait);
  h.hub->RemoveKey(stream.listener.get(), WatchKey{"resourcing", "", "runs/2"});
  const int64_t seq = h.Commit("resourcing", "run", "runs/2");
  ASSERT_TRUE(h.Dispatched(seq));
  EXPECT_EQ(stream.waiter->wakes(), 1);
}

TEST(EventHub, AKeyAddedAfterParkingIsNotPassedOverByTheWakeHint) {
  Hub h;
  Parked stream(h.hub.get(), Filter("resourcing", "runs/1"));
  const int64_t parked_at = h.hub->head();
  // An event about runs/2 commits before runs/2 is watched: it wakes nothing.
  const int64_t first = h.Commit("resourcing", "run", "runs/2");
  ASSERT_TRUE(h.Dispatched(first));
  h.hub->AddKey(stream.listener.get(), WatchKey{"resourcing", "", "runs/2"});
  h.Commit("resourcing", "run", "runs/1");
  ASSERT_TRUE(stream.waiter->WaitWakes(1));
  auto next = h.hub->NextEvent(
      parked_at, [](const EventRecord& e) { return e.resource == "runs/1" || e.resource == "runs/2"; }, true,
      stream.listener.get());
  ASSERT_EQ(next.kind, EventHub::NextKind::kEvent);
  EXPECT_EQ(next.event->sequence, first) << "the hint (the runs/1 event) passed over runs/2's first event";
}

// Records the order in which its waiters were woken.
class OrderedWaiter : public Waiter {
 public:
  OrderedWaiter(int id, std::vector<int>* order, std::mutex* mu) : id_(id), order_(order), mu_(mu) {}
  void Wake() override {
    std::lock_guard<std::mutex> lock(*mu_);
    order_->push_back(id_);
  }

 private:
  int id_;
  std::vector<int>* order_;
  std::mutex* mu_;
};

TEST(EventHub, WatchersAreWokenInTheOrderTheyParked) {
  EventHub::Options options;
  options.wake_threads = 1;  // one thread: the order of its wakes is the order of the batch
  Hub h(options);
  std::mutex mu;
  std::vector<int> woken;
  // Listening in one order, parking in another (a shuffle of 0..199): the
  // wake order follows the parking, not the listening or the index's hash.
  constexpr int kWatchers = 200;
  std::vector<int> park_order(kWatchers);
  for (int i = 0; i < kWatchers; ++i) park_order[i] = (i * 73 + 11) % kWatchers;  // 73 is prime to 200
  std::vector<std::shared_ptr<OrderedWaiter>> waiters;
  std::vector<std::shared_ptr<EventHub::Listener>> listeners;
  const WatchFilter filter = Filter("notification");
  for (int i = 0; i < kWatchers; ++i) {
    waiters.push_back(std::make_shared<OrderedWaiter>(i, &woken, &mu));
    listeners.push_back(h.hub->Listen(waiters.back()));
    for (const auto& key : KeysOf(filter)) h.hub->AddKey(listeners.back().get(), key);
  }
  for (int id : park_order) {
    auto next = h.hub->NextEvent(
        h.hub->head(), [&](const EventRecord& e) { return filter.Matches(e); }, false, listeners[id].get());
    ASSERT_EQ(next.kind, EventHub::NextKind::kWait);
  }
  const int64_t seq = h.Commit("notification", "bus_event", "busEvents/order");
  ASSERT_TRUE(h.Dispatched(seq));
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (woken.size() == kWatchers) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(woken, park_order);
}

TEST(EventHub, CloseWakesParkedWatchersAndUnlistenForgetsThem) {
  Hub h;
  Parked a(h.hub.get(), Filter("media"));
  Parked b(h.hub.get(), Filter("notification", "busEvents/x"));
  EXPECT_EQ(h.hub->stats().listeners, 2);
  EXPECT_EQ(h.hub->stats().parked, 2);
  h.hub->Close();
  ASSERT_TRUE(a.waiter->WaitWakes(1));
  ASSERT_TRUE(b.waiter->WaitWakes(1));
  auto next = h.hub->NextEvent(
      0, [](const EventRecord&) { return true; }, false, a.listener.get());
  EXPECT_EQ(next.kind, EventHub::NextKind::kClosed);
  h.hub->Unlisten(a.listener.get());
  h.hub->Unlisten(b.listener.get());
  EXPECT_EQ(h.hub->stats().listeners, 0);
}

TEST(EventHub, StoreReadsRunOnTheHubsThreads) {
  Hub h;
  for (int i = 0; i < 3; ++i) h.Commit("notification", "bus_event", "busEvents/" + std::to_string(i));
  h.Commit("media", "storage", "blobs/x");
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<EventBatch>> got;
  std::thread::id reader;
  ASSERT_TRUE(h.hub->ReadEventsAsync(0, 10, "notification", [&](absl::StatusOr<EventBatch> batch) {
    std::lock_guard<std::mutex> lock(mu);
    reader = std::this_thread::get_id();
    got = std::move(batch);
    cv.notify_all();
  }));
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return got.has_value(); }));
  EXPECT_NE(reader, std::this_thread::get_id());
  ASSERT_TRUE(got->ok()) << got->status();
  ASSERT_EQ((*got)->events.size(), 3u);
  EXPECT_EQ((*got)->events[2].sequence, 3);
  EXPECT_EQ(h.hub->stats().store_reads, 1);
}

TEST(EventHub, TheOneFilterFormKeepsOneListenerPerWaiter) {
  Hub h;
  auto waiter = std::make_shared<CountingWaiter>();
  WatchFilter all;
  auto next = h.hub->NextEvent(0, all, false, waiter);
  ASSERT_EQ(next.kind, EventHub::NextKind::kWait);
  next = h.hub->NextEvent(0, all, false, waiter);
  ASSERT_EQ(next.kind, EventHub::NextKind::kWait);
  EXPECT_EQ(h.hub->stats().listeners, 1);
  h.Commit("media", "storage", "blobs/x");
  ASSERT_TRUE(waiter->WaitWakes(1)) << "an empty filter listens to every service";
}

}  // namespace
}  // namespace switchboard::core
