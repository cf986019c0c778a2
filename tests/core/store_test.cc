// The Store conformance suite (store.h), run against SQLite on real files
// and PostgreSQL on a real server (store_impls.h): durability, group
// commit, idempotency, gap-free sequences, the commit listener; with
// PostgreSQL, "replicas" are several stores open on one schema. The
// SQLite-only and PostgreSQL-only cases follow the suite.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include <sqlite3.h>

#include "absl/time/clock.h"
#include "server/core/job_queue.h"
#include "server/core/pg_conn.h"
#include "server/core/pg_store.h"
#include "server/core/request_index.h"
#include "server/core/store.h"
#include "server/core/wal_checkpointer.h"
#include "tests/core/store_impls.h"
#include "tests/core/test_support.h"

namespace switchboard::core {
namespace {

using switchboard::testing::TempDir;
using testing::ReplicaOptions;
using testing::StoreEnv;
using testing::StoreImpl;

// SQLite's own cases open the file directly.
std::unique_ptr<Store> Open(const TempDir& dir) {
  auto s = OpenSqliteStore({dir.path() + "/switchboard.db"});
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

Mutation OneEvent(const std::string& request_id, const std::string& payload) {
  Mutation m;
  m.scope = "test.Op";
  m.request_id = request_id;
  m.fingerprint = payload;
  m.writes.push_back({"thing", "things/" + request_id, payload, false});
  m.events.push_back({"notification", "bus_event", "things/" + request_id, "", ""});
  m.make_response = [payload](int64_t seq) { return payload + "@" + std::to_string(seq); };
  return m;
}

// Waits up to `timeout` for `done`; true if it came.
bool Eventually(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// What a commit listener got, in the order it got it.
class Recorder {
 public:
  Store::CommitListener listener() {
    return [this](std::vector<std::shared_ptr<const EventRecord>> events) {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& e : events) seqs_.push_back(e->sequence);
    };
  }
  std::vector<int64_t> seqs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seqs_;
  }
  int64_t last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seqs_.empty() ? 0 : seqs_.back();
  }

 private:
  mutable std::mutex mu_;
  std::vector<int64_t> seqs_;
};

class StoreConformance : public ::testing::TestWithParam<StoreImpl> {
 protected:
  void SetUp() override {
    auto env = GetParam().make();
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = std::move(*env);
  }
  std::unique_ptr<Store> Open(const ReplicaOptions& options = {}) {
    auto s = env_->Open(options);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // A second store on the same state: another replica with PostgreSQL;
  // SQLite has one, so `first` itself.
  Store* Replica(Store* first, std::unique_ptr<Store>& holder, const ReplicaOptions& options = {}) {
    if (!env_->replicas()) return first;
    holder = Open(options);
    return holder.get();
  }

  std::unique_ptr<StoreEnv> env_;
};

TEST_P(StoreConformance, DataSurvivesCloseAndReopen) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Commit(OneEvent("r" + std::to_string(i), "v")).ok());
    store->Close();
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->HeadSequence(), 10);
  auto v = store->GetResource("thing", "things/r7");
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "v");
  auto events = store->ReadEvents(0, 100, "");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->events.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(events->events[i].sequence, i + 1);
  EXPECT_EQ(events->events[3].resource, "things/r3");
  EXPECT_EQ(events->events[3].service, "notification");
  // A repeat after reopening still returns the first response.
  auto again = store->Commit(OneEvent("r3", "v"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->response, "v@4");
  EXPECT_EQ(store->HeadSequence(), 10);
}

TEST_P(StoreConformance, ConcurrentWritersShareTransactions) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 32, kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  std::mutex seq_mu;
  std::set<int64_t> seqs;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store->Commit(OneEvent(std::to_string(t) + "-" + std::to_string(i), "x"));
        if (!r.ok()) {
          failures++;
          continue;
        }
        std::lock_guard<std::mutex> lock(seq_mu);
        seqs.insert(r->last_sequence);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const int total = kThreads * kPerThread;
  ASSERT_EQ(static_cast<int>(seqs.size()), total) << "every commit gets its own sequence";
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), total) << "no gaps";
  Store::Stats stats = store->stats();
  EXPECT_EQ(stats.mutations, total);
  EXPECT_LT(stats.transactions, total) << "concurrent writers must share transactions (group commit)";
}

TEST_P(StoreConformance, RepeatWithDifferentContentIsAlreadyExists) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Commit(OneEvent("same", "a")).ok());
  auto r = store->Commit(OneEvent("same", "b"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(r.status().message().find("already used for a different test.Op request"), absl::string_view::npos)
      << r.status();
  EXPECT_EQ(store->HeadSequence(), 1);
}

TEST_P(StoreConformance, RepeatsInOneBatchAreReplaysOfTheFirst) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kIds = 40;
  std::mutex mu;
  std::condition_variable cv;
  int left = 2 * kIds, replayed = 0, failed = 0;
  std::map<std::string, std::set<std::string>> responses;
  // Queued back to back, so that a request and its repeat mostly share a
  // transaction: the repeat must see the record its first made just before.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kIds; ++i) {
      std::string id = "dup-" + std::to_string(i);
      store->CommitAsync(OneEvent(id, "v"), [&, id](absl::StatusOr<CommitResult> r) {
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok()) {
          ++failed;
        } else {
          replayed += r->replayed;
          responses[id].insert(r->response);
        }
        if (--left == 0) cv.notify_all();
      });
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return left == 0; });
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(replayed, kIds);
  EXPECT_EQ(store->HeadSequence(), kIds) << "a repeat appended an event";
  for (const auto& [id, got] : responses) EXPECT_EQ(got.size(), 1u) << id << ": the repeat got another response";
}

// A request_id names one request of one RPC (docs/api.md): the same id
// under another scope is ALREADY_EXISTS naming the first, also after a
// restart, and nothing is applied.
TEST_P(StoreConformance, ARequestIdUsedUnderAnotherScopeIsAlreadyExists) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit(OneEvent("shared", "x")).ok());
    Mutation other = OneEvent("shared", "x");
    other.scope = "test.OtherOp";
    auto r = store->Commit(std::move(other));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_NE(r.status().message().find("first used for test.Op, not test.OtherOp"), absl::string_view::npos)
        << r.status();
    EXPECT_EQ(store->HeadSequence(), 1) << "nothing applied";
    store->Close();
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Mutation other = OneEvent("shared", "x");
  other.scope = "test.OtherOp";
  EXPECT_EQ(store->Commit(std::move(other)).status().code(), absl::StatusCode::kAlreadyExists) << "after a restart";
  auto again = store->Commit(OneEvent("shared", "x"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed) << "its own scope still replays";
}

TEST_P(StoreConformance, FailedMutationLeavesNoGapAndNoWrites) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Mutation bad = OneEvent("bad", "x");
  bad.prepare = [](TxnReader&, Mutation&) { return absl::FailedPreconditionError("nope"); };
  std::atomic<bool> bad_failed{false};
  store->CommitAsync(OneEvent("a", "x"), [](auto) {});
  store->CommitAsync(std::move(bad), [&](absl::StatusOr<CommitResult> r) { bad_failed = !r.ok(); });
  ASSERT_TRUE(store->Commit(OneEvent("b", "x")).ok());
  EXPECT_TRUE(bad_failed.load());
  auto events = store->ReadEvents(0, 10, "");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].sequence, 1);
  EXPECT_EQ(events->events[1].sequence, 2);
  auto gone = store->GetResource("thing", "things/bad");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  // Its request_id was not recorded either: a retry that succeeds applies.
  auto retry = store->Commit(OneEvent("bad", "x"));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->replayed);
  EXPECT_EQ(retry->last_sequence, 3);
}

TEST_P(StoreConformance, PrepareSeesEarlierMutationsOfTheSameBatch) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  // Ten increments queued at once land in one or few batches; each must read
  // the value the previous one wrote.
  std::atomic<int> done{0};
  for (int i = 0; i < 10; ++i) {
    Mutation m;
    m.prepare = [](TxnReader& txn, Mutation& self) -> absl::Status {
      auto cur = txn.Get("counter", "c");
      if (!cur.ok()) return cur.status();
      int n = cur->has_value() ? std::stoi(**cur) : 0;
      self.writes.push_back({"counter", "c", std::to_string(n + 1), false});
      return absl::OkStatus();
    };
    store->CommitAsync(std::move(m), [&](auto r) {
      EXPECT_TRUE(r.ok());
      done++;
    });
  }
  ASSERT_TRUE(store->Commit(Mutation{}).ok());
  EXPECT_TRUE(Eventually([&] { return done.load() == 10; }));
  auto v = store->GetResource("counter", "c");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "10");
}

TEST_P(StoreConformance, ReadEventsFiltersByServiceAndReportsScanPosition) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 6; ++i) {
    Mutation m;
    m.events.push_back({i % 2 ? "media" : "notification", "k", "r", "", ""});
    ASSERT_TRUE(store->Commit(std::move(m)).ok());
  }
  auto media = store->ReadEvents(0, 100, "media");
  ASSERT_TRUE(media.ok());
  ASSERT_EQ(media->events.size(), 3u);
  EXPECT_EQ(media->events[0].sequence, 2);
  EXPECT_EQ(media->scanned_through, 6);
  auto page = store->ReadEvents(0, 2, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->scanned_through, 2);
  auto none = store->ReadEvents(6, 10, "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->events.empty());
  EXPECT_EQ(none->scanned_through, 6);
}

TEST_P(StoreConformance, ListResourcesPagesInNameOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Mutation m;
  for (const char* n : {"b", "a", "d", "c", "e"}) m.writes.push_back({"thing", n, std::string("v") + n, false});
  m.writes.push_back({"other", "a", "x", false});
  m.writes.push_back({"thing", "e", "", true});  // erased again in the same mutation
  ASSERT_TRUE(store->Commit(std::move(m)).ok());
  auto first = store->ListResources("thing", "", 2);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_EQ(first->items[0], std::make_pair(std::string("a"), std::string("va")));
  EXPECT_EQ(first->items[1].first, "b");
  EXPECT_EQ(first->next_after, "b");
  auto rest = store->ListResources("thing", first->next_after, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->items.size(), 2u);
  EXPECT_EQ(rest->items[1].first, "d");
  EXPECT_EQ(rest->next_after, "") << "the last page";
}

TEST_P(StoreConformance, CommitsAfterCloseAreUnavailable) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  store->Close();
  EXPECT_EQ(store->Commit(OneEvent("late", "x")).status().code(), absl::StatusCode::kUnavailable);
}

// Event payloads get their sequence (field 1) and create_time (field 2)
// appended: the stored bytes and the listener's are the same.
TEST_P(StoreConformance, EventsCarryTheirSequenceAndCreateTime) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Recorder rec;
  store->SetCommitListener(rec.listener());
  Mutation m;
  m.events.push_back({"media", "storage", "blobs/1", "accounts/a", std::string("\x1a\x01z", 3)});
  auto r = store->Commit(std::move(m));
  ASSERT_TRUE(r.ok()) << r.status();
  auto read = store->ReadEvents(0, 10, "");
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->events.size(), 1u);
  const EventRecord& e = read->events[0];
  EXPECT_EQ(e.related, "accounts/a");
  EXPECT_EQ(e.kind, "storage");
  EXPECT_GE(e.create_time_us, absl::ToUnixMicros(absl::Now() - absl::Minutes(1)));
  // Field 1 (varint 1) follows the payload.
  ASSERT_GT(e.data.size(), 5u);
  EXPECT_EQ(e.data.substr(0, 5), std::string("\x1a\x01z\x08\x01", 5));
}

// A commit's callback runs only once the commit listener has its events:
// a watch that starts after an acknowledged write sees it.
TEST_P(StoreConformance, TheListenerHasAWritesEventsBeforeItIsAcknowledged) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Recorder rec;
  store->SetCommitListener(rec.listener());
  for (int i = 0; i < 20; ++i) {
    auto r = store->Commit(OneEvent("w" + std::to_string(i), "x"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GE(rec.last(), r->last_sequence) << "acknowledged before the listener had it";
    EXPECT_GE(store->HeadSequence(), r->last_sequence);
  }
  // A mutation without events is answered at once, with the head.
  auto none = store->Commit(Mutation{});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->last_sequence, 20);
}

// Eight writers over two replicas (one store for SQLite): one log, no gap,
// no repeat; every replica's listener gets all of it, in order, once.
TEST_P(StoreConformance, EightWritersOverTwoReplicasMakeOneGapFreeLog) {
  auto a = Open();
  ASSERT_NE(a, nullptr);
  std::unique_ptr<Store> b_holder;
  Store* b = Replica(a.get(), b_holder);
  ASSERT_NE(b, nullptr);
  Recorder rec_a, rec_b;
  a->SetCommitListener(rec_a.listener());
  if (b != a.get()) b->SetCommitListener(rec_b.listener());
  constexpr int kWriters = 8, kPerWriter = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    Store* s = t % 2 ? b : a.get();
    threads.emplace_back([&, s, t] {
      for (int i = 0; i < kPerWriter; ++i) {
        Mutation m = OneEvent("g" + std::to_string(t) + "-" + std::to_string(i), "x");
        // Some mutations append several events.
        if (i % 5 == 0) m.events.push_back({"media", "k", "r", "", ""});
        if (!s->Commit(std::move(m)).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const int64_t total = kWriters * kPerWriter + kWriters * (kPerWriter / 5);
  std::vector<int64_t> want(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) want[static_cast<size_t>(i)] = i + 1;
  for (Recorder* rec : {&rec_a, &rec_b}) {
    if (rec == &rec_b && b == a.get()) continue;
    EXPECT_TRUE(Eventually([&] { return rec->last() >= total; })) << "a listener stopped at " << rec->last();
    EXPECT_EQ(rec->seqs(), want) << "a listener missed, repeated or reordered events";
  }
  for (Store* s : {a.get(), b}) {
    auto all = s->ReadEvents(0, static_cast<int>(total) + 10, "");
    ASSERT_TRUE(all.ok()) << all.status();
    ASSERT_EQ(static_cast<int64_t>(all->events.size()), total) << "count(*) = max(seq)";
    EXPECT_EQ(all->events.back().sequence, total);
    EXPECT_EQ(all->scanned_through, total);
    EXPECT_EQ(s->HeadSequence(), total);
  }
}

// A request_id committed on one replica replays on another.
TEST_P(StoreConformance, ARepeatOnAnotherReplicaReplaysTheFirst) {
  auto a = Open();
  ASSERT_NE(a, nullptr);
  std::unique_ptr<Store> b_holder;
  Store* b = Replica(a.get(), b_holder);
  ASSERT_NE(b, nullptr);
  auto first = a->Commit(OneEvent("across", "v"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed);
  auto again = b->Commit(OneEvent("across", "v"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->response, first->response);
  EXPECT_EQ(b->Commit(OneEvent("across", "other")).status().code(), absl::StatusCode::kAlreadyExists);
  Mutation elsewhere = OneEvent("across", "v");
  elsewhere.scope = "test.OtherOp";
  EXPECT_EQ(b->Commit(std::move(elsewhere)).status().code(), absl::StatusCode::kAlreadyExists);
  auto events = b->ReadEvents(0, 10, "");
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->events.size(), 1u) << "a repeat appended an event";
}

// Holds the store's writer inside a prepare until Open(): what is queued
// meanwhile is taken in one batch once it opens (a batch takes all that
// is queued, up to max_batch).
class Gate {
 public:
  Mutation Blocker() {
    Mutation m;
    m.prepare = [this](TxnReader&, Mutation&) {
      std::unique_lock<std::mutex> lock(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      return absl::OkStatus();
    };
    return m;
  }
  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, open_ = false;
};

// Commits `ms` behind a gate, so that they share one transaction; their
// results in order. Fails the test when they took more than one.
std::vector<absl::StatusOr<CommitResult>> CommitInOneBatch(Store& store, std::vector<Mutation> ms) {
  Gate gate;
  std::promise<absl::StatusOr<CommitResult>> gated;
  store.CommitAsync(gate.Blocker(), [&gated](absl::StatusOr<CommitResult> r) { gated.set_value(std::move(r)); });
  EXPECT_TRUE(gate.WaitEntered()) << "the gate's prepare never ran";
  const int64_t before = store.stats().transactions;
  std::vector<std::promise<absl::StatusOr<CommitResult>>> answers(ms.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    store.CommitAsync(std::move(ms[i]), [&answers, i](absl::StatusOr<CommitResult> r) { answers[i].set_value(r); });
  }
  gate.Open();
  EXPECT_TRUE(gated.get_future().get().ok());
  std::vector<absl::StatusOr<CommitResult>> out;
  for (auto& a : answers) out.push_back(a.get_future().get());
  bool all_ok = true;
  for (const auto& r : out) all_ok = all_ok && r.ok();
  // The gate's transaction, and one more (when they committed).
  if (all_ok) {
    EXPECT_EQ(store.stats().transactions - before, 2) << "the mutations did not share one transaction";
  }
  return out;
}

// The routes version a prepare sees now (its own mutation changes nothing).
uint64_t RoutesVersion(Store& store) {
  uint64_t seen = 0;
  Mutation m;
  m.prepare = [&seen](TxnReader& txn, Mutation&) {
    seen = txn.RoutesVersion();
    return absl::OkStatus();
  };
  auto r = store.Commit(std::move(m));
  EXPECT_TRUE(r.ok()) << r.status();
  return seen;
}

// A mutation that changes the routes (a subscription written).
Mutation RouteChange(const std::string& name) {
  Mutation m;
  m.changes_routes = true;
  m.writes.push_back({"route", name, "v-" + name, false});
  return m;
}

// A prepare that records the routes version it sees.
Mutation SeeVersion(uint64_t* seen) {
  Mutation m;
  m.prepare = [seen](TxnReader& txn, Mutation&) {
    *seen = txn.RoutesVersion();
    return absl::OkStatus();
  };
  return m;
}

TEST_P(StoreConformance, TheRoutesVersionChangesOnlyWhenARoutesChangeIsApplied) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const uint64_t v0 = RoutesVersion(*store);
  EXPECT_NE(v0, 0u);
  ASSERT_TRUE(store->Commit(OneEvent("plain", "x")).ok());
  EXPECT_EQ(RoutesVersion(*store), v0) << "a mutation that does not change the routes changed the version";

  ASSERT_TRUE(store->Commit(RouteChange("a")).ok());
  const uint64_t v1 = RoutesVersion(*store);
  EXPECT_NE(v1, 0u);
  EXPECT_NE(v1, v0);
  EXPECT_EQ(RoutesVersion(*store), v1) << "reading it changes nothing";

  // Refused: by its prepare, by a job write, or a repeat of a request that
  // was applied: nothing applied, the version stays.
  Mutation refused = RouteChange("b");
  refused.prepare = [](TxnReader&, Mutation&) { return absl::FailedPreconditionError("no"); };
  EXPECT_FALSE(store->Commit(std::move(refused)).ok());
  EXPECT_EQ(RoutesVersion(*store), v1) << "a refused routes change changed the version";
  Mutation lease_lost = RouteChange("c");
  lease_lost.jobs.push_back(JobWrite::Complete(JobLease{987654, "nobody", 1, 0}));
  EXPECT_EQ(store->Commit(std::move(lease_lost)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(RoutesVersion(*store), v1) << "a routes change whose job write was refused changed the version";
  auto gone = store->GetResource("route", "c");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());

  Mutation first = RouteChange("d");
  first.scope = "test.Op";
  first.request_id = "route-d";
  first.fingerprint = "d";
  ASSERT_TRUE(store->Commit(std::move(first)).ok());
  const uint64_t v2 = RoutesVersion(*store);
  EXPECT_NE(v2, v1);
  EXPECT_NE(v2, v0);
  Mutation repeat = RouteChange("d");
  repeat.scope = "test.Op";
  repeat.request_id = "route-d";
  repeat.fingerprint = "d";
  auto replayed = store->Commit(std::move(repeat));
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(replayed->replayed);
  EXPECT_EQ(RoutesVersion(*store), v2) << "a repeat applies nothing";
}

// Inside one transaction: a prepare after the routes change sees the new
// version (one before it, and the change's own prepare, the old), and the
// version committed is the one it saw.
TEST_P(StoreConformance, ARoutesChangeIsSeenByTheNextMutationsOfItsBatch) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const uint64_t v0 = RoutesVersion(*store);
  uint64_t before = 0, own = 0, after = 0, after2 = 0;
  std::vector<Mutation> ms;
  ms.push_back(SeeVersion(&before));
  Mutation change = RouteChange("a");
  change.prepare = [&own](TxnReader& txn, Mutation&) {
    own = txn.RoutesVersion();
    return absl::OkStatus();
  };
  ms.push_back(std::move(change));
  ms.push_back(SeeVersion(&after));
  ms.push_back(OneEvent("between", "x"));
  ms.push_back(SeeVersion(&after2));
  for (const auto& r : CommitInOneBatch(*store, std::move(ms))) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(before, v0);
  EXPECT_EQ(own, v0) << "a mutation's prepare runs before it is applied";
  EXPECT_NE(after, v0) << "the next mutation of the batch did not see the change";
  EXPECT_NE(after, 0u);
  EXPECT_EQ(after2, after) << "a plain mutation changed the version";
  EXPECT_EQ(RoutesVersion(*store), after) << "the version committed is not the one the batch saw";
}

// A change on one replica is seen on every other (SQLite: one store).
TEST_P(StoreConformance, ARoutesChangeOnOneReplicaIsSeenOnAnother) {
  auto a = Open();
  ASSERT_NE(a, nullptr);
  std::unique_ptr<Store> b_holder;
  Store* b = Replica(a.get(), b_holder);
  ASSERT_NE(b, nullptr);
  const uint64_t v0 = RoutesVersion(*b);
  EXPECT_EQ(RoutesVersion(*a), v0) << "replicas of one state disagree";
  ASSERT_TRUE(a->Commit(RouteChange("a")).ok());
  const uint64_t v1 = RoutesVersion(*b);
  EXPECT_NE(v1, v0) << "the other replica did not see the change";
  EXPECT_EQ(RoutesVersion(*a), v1);
  ASSERT_TRUE(b->Commit(RouteChange("b")).ok());
  const uint64_t v2 = RoutesVersion(*a);
  EXPECT_NE(v2, v1);
  EXPECT_NE(v2, v0);
}

// Makes every write of a resource of kind "boom" fail (a failed statement,
// not a refusal): the transaction holding it is rolled back.
void InstallBoom(StoreEnv& env, const std::string& impl) {
  if (impl == "sqlite") {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((env.where() + "/switchboard.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char* err = nullptr;
    int rc = sqlite3_exec(db,
                          "CREATE TRIGGER boom BEFORE INSERT ON resources WHEN NEW.kind = 'boom' "
                          "BEGIN SELECT RAISE(ABORT, 'boom'); END",
                          nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
    return;
  }
  auto url = testing::TestPgUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  pg::ConnectSpec spec;
  spec.url = *url;
  spec.schema = env.where();
  auto c = pg::Conn::Open(spec);
  ASSERT_TRUE(c.ok()) << c.status();
  auto r = (*c)->ExecScript(
      "boom", "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$; "
              "CREATE TRIGGER boom BEFORE INSERT ON resources FOR EACH ROW WHEN (NEW.kind = 'boom'::bytea) "
              "EXECUTE FUNCTION boom()");
  ASSERT_TRUE(r.ok()) << r.status();
}

// A batch rolled back after a routes change was applied in it: the version
// its later prepares saw is never seen again.
TEST_P(StoreConformance, ARolledBackRoutesVersionIsNeverSeenAgain) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  InstallBoom(*env_, GetParam().name);
  const uint64_t v0 = RoutesVersion(*store);
  uint64_t inside = 0;
  std::vector<Mutation> ms;
  ms.push_back(RouteChange("lost"));
  Mutation fails = SeeVersion(&inside);
  fails.writes.push_back({"boom", "x", "x", false});
  ms.push_back(std::move(fails));
  for (const auto& r : CommitInOneBatch(*store, std::move(ms))) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << "the batch was not rolled back: " << r.status();
  }
  EXPECT_NE(inside, v0) << "the change was not applied inside the batch";
  auto lost = store->GetResource("route", "lost");
  ASSERT_TRUE(lost.ok());
  EXPECT_FALSE(lost->has_value()) << "the batch committed";
  const uint64_t now = RoutesVersion(*store);
  EXPECT_NE(now, 0u);
  EXPECT_NE(now, inside) << "a rolled-back transaction's version was seen again";
  ASSERT_TRUE(store->Commit(RouteChange("kept")).ok());
  const uint64_t later = RoutesVersion(*store);
  EXPECT_NE(later, inside);
  EXPECT_NE(later, now);
}

// TxnReader::List reads inside the transaction: what earlier mutations of
// the batch wrote and erased, in name order, a page at a time.
TEST_P(StoreConformance, PrepareListsWhatEarlierMutationsOfTheBatchWrote) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Mutation committed;
  for (const char* n : {"a", "c"}) committed.writes.push_back({"route", n, std::string("old-") + n, false});
  committed.writes.push_back({"other", "b", "x", false});
  ASSERT_TRUE(store->Commit(std::move(committed)).ok());

  std::vector<Mutation> ms;
  Mutation writes;
  writes.writes.push_back({"route", "b", "new-b", false});
  writes.writes.push_back({"route", "c", "new-c", false});
  writes.writes.push_back({"route", "a", "", true});
  ms.push_back(std::move(writes));
  std::vector<std::pair<std::string, std::string>> seen;
  std::vector<std::string> nexts;
  absl::Status list_status;
  Mutation lister;
  lister.prepare = [&](TxnReader& txn, Mutation& self) -> absl::Status {
    std::string after;
    do {
      auto page = txn.List("route", after, 1);
      if (!page.ok()) return list_status = page.status();
      for (auto& item : page->items) seen.push_back(item);
      nexts.push_back(page->next_after);
      after = page->next_after;
    } while (!after.empty());
    self.writes.push_back({"route", "d", "from-prepare", false});
    return absl::OkStatus();
  };
  ms.push_back(std::move(lister));
  for (const auto& r : CommitInOneBatch(*store, std::move(ms))) ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(list_status.ok()) << list_status;
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{{"b", "new-b"}, {"c", "new-c"}}))
      << "the list did not see the batch's earlier writes and erase";
  EXPECT_EQ(nexts, (std::vector<std::string>{"b", ""})) << "one item a page, then the last page";
  auto all = store->ListResources("route", "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->items.size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformance, ::testing::ValuesIn(testing::AllStoreImpls()),
                         testing::ImplName);

// SQLite's own.

TEST(SqliteStore, SchemaOneIdempotencyRecordsAreMovedAndStillHonoured) {
  TempDir dir;
  const std::string path = dir.path() + "/switchboard.db";
  {
    // A database as the first schema left it: records keyed by request id.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* v1 = R"sql(
      CREATE TABLE requests(scope TEXT NOT NULL, request_id TEXT NOT NULL, fingerprint BLOB NOT NULL,
                            response BLOB NOT NULL, create_us INTEGER NOT NULL,
                            PRIMARY KEY(scope, request_id)) WITHOUT ROWID;
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta VALUES('schema_version', '1');
      INSERT INTO requests VALUES('test.Op', 'old-1', 'a', 'a@7', 1), ('test.Op', 'old-2', 'b', 'b@9', 2);
    )sql";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  for (int open = 0; open < 2; ++open) {
    auto store = Open(dir);
    auto again = store->Commit(OneEvent("old-1", "a"));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE(again->replayed) << "open " << open;
    EXPECT_EQ(again->response, "a@7");
    EXPECT_EQ(store->Commit(OneEvent("old-2", "other")).status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(store->HeadSequence(), 0) << "a record from schema 1 was not honoured";
    store->Close();
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sql;
    std::string out = sqlite3_step(st) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0)) : "";
    sqlite3_finalize(st);
    return out;
  };
  EXPECT_EQ(scalar("SELECT value FROM meta WHERE key='schema_version'"), "2");
  EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_master WHERE name='requests'"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM request_log"), "2");
  sqlite3_close(db);
}

TEST(RequestIndex, KeepsEveryRowOfAKeyAndUndoesAdds) {
  RequestIndex index;
  EXPECT_TRUE(index.Candidates("a").empty());
  index.Add("a", 1);
  index.Add("b", 2);
  index.Add("a", 3);  // the store never does this; the index must still keep both
  EXPECT_EQ(index.Candidates("a"), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(index.Candidates("b"), (std::vector<int64_t>{2}));
  EXPECT_EQ(index.size(), 3u);
  index.Remove("a", 1);
  EXPECT_EQ(index.Candidates("a"), (std::vector<int64_t>{3}));
  index.Remove("a", 99);  // not there: nothing happens
  index.Remove("a", 3);
  EXPECT_TRUE(index.Candidates("a").empty());
  EXPECT_EQ(index.Candidates("b"), (std::vector<int64_t>{2}));
  EXPECT_EQ(index.size(), 1u);
}

// Checkpoints run on the store's own thread (wal_checkpointer.h): while the
// store stays open and busy, committed pages keep moving from the -wal file
// into the database file, and the -wal file stops growing.
TEST(SqliteStore, CheckpointsMoveTheLogIntoTheDatabaseWhileOpen) {
  TempDir dir;
  auto store = Open(dir);
  const std::string db = dir.path() + "/switchboard.db";
  const std::string payload(2000, 'p');
  std::atomic<int> left{60000};
  for (int i = 0; i < 60000; ++i) {
    store->CommitAsync(OneEvent("ck" + std::to_string(i), payload), [&](auto r) {
      EXPECT_TRUE(r.ok());
      --left;
    });
  }
  while (left.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Give the checkpoint thread a moment to finish the last round.
  uintmax_t db_size = 0;
  for (int i = 0; i < 500 && db_size < 80u * 1000 * 1000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    db_size = std::filesystem::file_size(db);
  }
  // 60,000 events of 2 KB is 120 MB: most of it must be in the database
  // file already, and the -wal file (which starts over at 32 MiB) far
  // smaller than everything written.
  EXPECT_GT(db_size, 80u * 1000 * 1000);
  EXPECT_LT(std::filesystem::file_size(db + "-wal"), 48u * 1000 * 1000);
  auto read = store->ReadEvents(59990, 100, "");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->events.size(), 10u);
}

// The checkpoint thread runs once per `pages` frames added to the -wal
// file, not after every commit once the file holds `pages` (SQLite's own
// rule): under steady writes the file does not start over, and each of
// those rounds would copy one commit's frames and pay two fsyncs. Here a
// reader's open snapshot keeps the file from starting over.
TEST(WalCheckpointer, RunsOncePerPagesOfNewFramesNotAfterEveryCommit) {
  TempDir dir;
  const std::string path = dir.path() + "/ck.db";
  auto open = [&](sqlite3** db) {
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr), SQLITE_OK);
  };
  sqlite3* writer = nullptr;
  sqlite3* reader = nullptr;
  sqlite3* own = nullptr;
  open(&writer);
  ASSERT_EQ(sqlite3_exec(writer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(x);", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  open(&reader);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM t;", nullptr, nullptr, nullptr), SQLITE_OK);
  open(&own);
  constexpr int kPages = 500;
  {
    auto checkpointer = WalCheckpointer::Start(own, writer, kPages);
    ASSERT_TRUE(checkpointer.ok()) << checkpointer.status();
    // About a frame per commit: 1,500 commits stay below the writer's own
    // checkpoint (kWriterCheckpointFactor * kPages frames).
    constexpr int kCommits = 1500;
    for (int i = 0; i < kCommits; ++i) {
      ASSERT_EQ(sqlite3_exec(writer, "INSERT INTO t VALUES(1)", nullptr, nullptr, nullptr), SQLITE_OK);
    }
    // The -wal file: a 32-byte header, then frames of a 24-byte header and
    // a page (4 KiB).
    const int log_frames = static_cast<int>((std::filesystem::file_size(path + "-wal") - 32) / (24 + 4096));
    ASSERT_LT(log_frames, WalCheckpointer::kWriterCheckpointFactor * kPages);
    ASSERT_GE(log_frames, 2 * kPages);
    // Asked for at 500, 1,000 and 1,500 frames; two asks before the thread
    // woke make one round.
    for (int i = 0; i < 500 && (*checkpointer)->rounds() < 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GE((*checkpointer)->rounds(), 1) << log_frames << " frames";
    EXPECT_LE((*checkpointer)->rounds(), log_frames / kPages + 1) << log_frames << " frames";
  }
  sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(reader);
  sqlite3_close(writer);
}

// PostgreSQL's own.

std::unique_ptr<StoreEnv> PgEnv() {
  auto env = testing::PostgresImpl().make();
  EXPECT_TRUE(env.ok()) << env.status();
  return env.ok() ? std::move(*env) : nullptr;
}

// A replica that does not LISTEN still gets the others' events, by polling.
TEST(PgStore, AReplicaWithoutListenGetsTheOthersEventsByPolling) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  auto a = env->Open();
  ASSERT_TRUE(a.ok()) << a.status();
  ReplicaOptions quiet;
  quiet.listen = false;
  quiet.poll_interval = absl::Milliseconds(100);
  auto b = env->Open(quiet);
  ASSERT_TRUE(b.ok()) << b.status();
  Recorder rec;
  (*b)->SetCommitListener(rec.listener());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*a)->Commit(OneEvent("n" + std::to_string(i), "x")).ok());
  absl::Time start = absl::Now();
  EXPECT_TRUE(Eventually([&] { return rec.last() >= 5; }, absl::Seconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "the poll is every 100 ms";
  EXPECT_EQ(rec.seqs(), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ((*b)->HeadSequence(), 5);
}

// The listener starts at the head when the store opened: older events are
// for ReadEvents.
TEST(PgStore, TheTailerStartsAtTheHeadWhenTheStoreOpened) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  auto a = env->Open();
  ASSERT_TRUE(a.ok()) << a.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*a)->Commit(OneEvent("o" + std::to_string(i), "x")).ok());
  auto b = env->Open();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->HeadSequence(), 3);
  Recorder rec;
  (*b)->SetCommitListener(rec.listener());
  ASSERT_TRUE((*a)->Commit(OneEvent("o3", "x")).ok());
  EXPECT_TRUE(Eventually([&] { return rec.last() >= 4; }));
  EXPECT_EQ(rec.seqs(), (std::vector<int64_t>{4}));
}

// Replicas starting at once on a new schema both create it (or find it).
TEST(PgStore, ReplicasStartingAtOnceShareOneSchema) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  constexpr int kReplicas = 4;
  std::vector<absl::StatusOr<std::unique_ptr<Store>>> opened(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) threads.emplace_back([&, i] { opened[i] = env->Open(); });
  for (auto& t : threads) t.join();
  for (auto& s : opened) ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*opened[0])->Commit(OneEvent("one", "x")).ok());
  auto again = (*opened[3])->Commit(OneEvent("one", "x"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
}

// A replica that starts while another is writing opens without waiting for
// that write: the schema is this build's already (its script's hash is in
// meta), so the script does not run. Its CREATE INDEX IF NOT EXISTS
// statements wait for a SHARE lock on their tables even when the index is
// there, and held together in one transaction they deadlocked with a
// running replica's writes: a replica restarted under load (the chaos kill
// case) exited with "deadlock detected".
TEST(PgStore, AReplicaStartsWithoutWaitingForTheWritesOfThoseRunning) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  auto a = env->Open();
  ASSERT_TRUE(a.ok()) << a.status();
  auto url = testing::TestPgUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  pg::ConnectSpec spec;
  spec.url = *url;
  spec.schema = env->where();
  auto writer = pg::Conn::Open(spec);
  ASSERT_TRUE(writer.ok()) << writer.status();
  // A write in flight on both tables the script indexes.
  auto lock = (*writer)->ExecScript("lock", "BEGIN; LOCK TABLE events, jobs IN ROW EXCLUSIVE MODE");
  ASSERT_TRUE(lock.ok()) << lock.status();
  ReplicaOptions waits_2s;
  waits_2s.lock_timeout = absl::Seconds(2);
  const absl::Time start = absl::Now();
  auto b = env->Open(waits_2s);
  EXPECT_TRUE(b.ok()) << b.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  auto rollback = (*writer)->ExecScript("rollback", "ROLLBACK");
  ASSERT_TRUE(rollback.ok()) << rollback.status();
  if (b.ok()) {
    EXPECT_TRUE((*b)->Commit(OneEvent("after", "x")).ok());
  }
}

// Passwords never reach a message or a log line, in any form libpq takes.
TEST(PgConn, RedactUrlHidesEveryFormOfPassword) {
  EXPECT_EQ(pg::RedactUrl("postgresql://sb:s3cret@db.example:5432/sb"), "postgresql://sb:***@db.example:5432/sb");
  EXPECT_EQ(pg::RedactUrl("postgres://sb:s3cret@[::1]:5432/sb?sslmode=require"),
            "postgres://sb:***@[::1]:5432/sb?sslmode=require");
  EXPECT_EQ(pg::RedactUrl("postgresql://sb@db:5432/sb"), "postgresql://sb@db:5432/sb");
  EXPECT_EQ(pg::RedactUrl("postgresql:///sb?host=/tmp/x&password=s3cret&user=sb"),
            "postgresql:///sb?host=/tmp/x&password=***&user=sb");
  EXPECT_EQ(pg::RedactUrl("host=db password = 's3 cret' user=sb"), "host=db password = *** user=sb");
  EXPECT_EQ(pg::RedactUrl("host=db PASSWORD=s3cret"), "host=db PASSWORD=***");
  EXPECT_EQ(pg::QuoteIdent("my \"schema\""), "\"my \"\"schema\"\"\"");
}

// A bad address fails at open, naming what to fix, without the password.
TEST(PgStore, AnUnreachableServerIsUnavailableNamingTheUrlWithoutItsPassword) {
  PgOptions options;
  options.url = "postgresql://switchboard:sekret-pw@127.0.0.1:1/switchboard?connect_timeout=2";
  auto s = OpenPgStore(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  const std::string msg(s.status().message());
  EXPECT_NE(msg.find("cannot connect to PostgreSQL at postgresql://switchboard:***@127.0.0.1:1/switchboard"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("check --store"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("sekret"), std::string::npos) << msg;
  options.url = "host=127.0.0.1 port=1 password=sekret-pw connect_timeout=2";
  s = OpenPgStore(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()).find("sekret"), std::string::npos) << s.status();
}

// A session of the test's own on the test database, for what a replica's
// peers or an operator do.
std::unique_ptr<pg::Conn> Admin(const std::string& schema) {
  auto url = testing::TestPgUrl();
  EXPECT_TRUE(url.ok()) << url.status();
  if (!url.ok()) return nullptr;
  pg::ConnectSpec spec;
  spec.url = *url;
  spec.schema = schema;
  spec.role = "test admin";
  auto c = pg::Conn::Open(spec);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

// Ends the sessions of `schema`'s stores whose role matches `role` (a LIKE
// pattern); returns how many.
int64_t Terminate(pg::Conn& admin, const std::string& schema, const std::string& role) {
  auto r = admin.ExecScript("terminate", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                         "WHERE pid <> pg_backend_pid() AND application_name LIKE 'switchboardd " + role +
                                         " (" + schema + ")'");
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->Int(0, 0) : -1;
}

int64_t Sessions(pg::Conn& admin, const std::string& schema, const std::string& role) {
  auto r = admin.ExecScript("count", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'switchboardd " +
                                         role + " (" + schema + ")'");
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->Int(0, 0) : -1;
}

// The LISTEN session dies: the poll carries the events on, and the tailer
// LISTENs again.
TEST(PgStore, ALostListenSessionLeavesThePollAndComesBack) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  ReplicaOptions fast;
  fast.poll_interval = absl::Milliseconds(200);
  auto a = env->Open(fast);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = env->Open(fast);
  ASSERT_TRUE(b.ok()) << b.status();
  Recorder rec;
  (*a)->SetCommitListener(rec.listener());
  auto admin = Admin(env->where());
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(Sessions(*admin, env->where(), "log listener"), 2);
  EXPECT_EQ(Terminate(*admin, env->where(), "log listener"), 2);
  ASSERT_TRUE((*b)->Commit(OneEvent("l1", "x")).ok());
  EXPECT_TRUE(Eventually([&] { return rec.last() >= 1; }, absl::Seconds(5))) << "the poll did not carry on";
  EXPECT_TRUE(Eventually([&] { return Sessions(*admin, env->where(), "log listener") == 2; }, absl::Seconds(5)))
      << "the tailers did not LISTEN again";
  ASSERT_TRUE((*b)->Commit(OneEvent("l2", "x")).ok());
  EXPECT_TRUE(Eventually([&] { return rec.last() >= 2; }, absl::Seconds(5)));
  EXPECT_EQ(rec.seqs(), (std::vector<int64_t>{1, 2}));
}

// Every session of both stores ends (a server restart, an operator): the
// writers, readers, tailers and job writers open new ones and go on.
TEST(PgStore, EverySessionLostIsOpenedAgain) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  ReplicaOptions fast;
  fast.poll_interval = absl::Milliseconds(200);
  auto a = env->Open(fast);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = env->Open(fast);
  ASSERT_TRUE(b.ok()) << b.status();
  Recorder rec;
  (*a)->SetCommitListener(rec.listener());
  ASSERT_TRUE((*b)->Commit(OneEvent("before", "x")).ok());
  ASSERT_TRUE(Eventually([&] { return rec.last() >= 1; }));
  auto admin = Admin(env->where());
  ASSERT_NE(admin, nullptr);
  // Per store: log writer, job writer, 4 readers, tailer, listener.
  EXPECT_EQ(Terminate(*admin, env->where(), "%"), 16);
  auto after = (*b)->Commit(OneEvent("after", "x"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->last_sequence, 2);
  EXPECT_TRUE(Eventually([&] { return rec.last() >= 2; }, absl::Seconds(5)));
  auto v = (*a)->GetResource("thing", "things/after");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, std::optional<std::string>("x"));
  std::promise<absl::StatusOr<JobLease>> p;
  (*a)->jobs().Write(JobWrite::Enqueue("test.kind", "k", "p"), [&p](absl::StatusOr<JobLease> r) { p.set_value(r); });
  auto job = p.get_future().get();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_GT(job->job_id, 0);
}

// A peer that holds the log counter's lock (stuck inside its transaction)
// costs a writer lock_timeout, not for ever; job claims and writes never
// wait for it.
TEST(PgStore, AHeldCounterLockTimesOutAndJobsDoNotWaitForIt) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  ReplicaOptions impatient;
  impatient.lock_timeout = absl::Milliseconds(300);
  auto a = env->Open(impatient);
  ASSERT_TRUE(a.ok()) << a.status();
  auto peer = Admin(env->where());
  ASSERT_NE(peer, nullptr);
  ASSERT_TRUE(peer->ExecScript("lock", "BEGIN; SELECT head FROM log_counter WHERE id=1 FOR UPDATE").ok());

  absl::Time start = absl::Now();
  auto blocked = (*a)->Commit(OneEvent("blocked", "x"));
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kUnavailable) << blocked.status();
  EXPECT_NE(blocked.status().message().find("lock timeout"), absl::string_view::npos) << blocked.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  start = absl::Now();
  std::promise<absl::StatusOr<JobLease>> enq;
  (*a)->jobs().Write(JobWrite::Enqueue("test.kind", "k", "p"), [&enq](absl::StatusOr<JobLease> r) { enq.set_value(r); });
  ASSERT_TRUE(enq.get_future().get().ok());
  std::promise<absl::StatusOr<std::vector<Job>>> claim;
  (*a)->jobs().Claim("test.kind", "owner", 1, absl::Minutes(1),
                     [&claim](absl::StatusOr<std::vector<Job>> r) { claim.set_value(r); });
  auto claimed = claim.get_future().get();
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(claimed->size(), 1u);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(250)) << "a job call waited for the counter's lock";

  ASSERT_TRUE(peer->ExecScript("unlock", "ROLLBACK").ok());
  auto later = (*a)->Commit(OneEvent("blocked", "x"));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_FALSE(later->replayed) << "the timed-out commit recorded its request_id";
  EXPECT_EQ(later->last_sequence, 1);
}

// The counter lock's statistics (Store::Stats, the "store closed" log line,
// tools/bench/scaleout_bench.cc): only batches that take the lock count, and
// the time spent waiting for it is not hold time.
TEST(PgStore, CounterLockStatsCountHoldsNotWaits) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  auto a = env->Open();
  ASSERT_TRUE(a.ok()) << a.status();
  std::promise<absl::StatusOr<JobLease>> enq;
  (*a)->jobs().Write(JobWrite::Enqueue("test.kind", "k", "p"), [&enq](absl::StatusOr<JobLease> r) { enq.set_value(r); });
  ASSERT_TRUE(enq.get_future().get().ok());
  EXPECT_EQ((*a)->stats().locked_transactions, 0) << "a job write alone does not take the lock";

  auto peer = Admin(env->where());
  ASSERT_NE(peer, nullptr);
  ASSERT_TRUE(peer->ExecScript("lock", "BEGIN; SELECT head FROM log_counter WHERE id=1 FOR UPDATE").ok());
  std::thread unlock([&] {
    absl::SleepFor(absl::Milliseconds(500));
    EXPECT_TRUE(peer->ExecScript("unlock", "ROLLBACK").ok());
  });
  auto committed = (*a)->Commit(OneEvent("e1", "x"));
  unlock.join();
  ASSERT_TRUE(committed.ok()) << committed.status();
  Store::Stats s = (*a)->stats();
  EXPECT_EQ(s.locked_transactions, 1);
  EXPECT_EQ(s.locked_mutations, 1);
  EXPECT_GT(s.lock_hold_us, 0);
  EXPECT_LT(s.lock_hold_us, 400000) << "the 500 ms spent waiting for the peer's lock is not hold time";
}

// Commits that queue up while another replica holds the counter's lock
// join the batch that was waiting for it: one hold carries them all, in
// the order they were sent, each with its own sequence.
TEST(PgStore, CommitsQueuedWhileThePeerHoldsTheLockJoinTheWaitingBatch) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  auto a = env->Open();
  ASSERT_TRUE(a.ok()) << a.status();
  auto peer = Admin(env->where());
  ASSERT_NE(peer, nullptr);
  ASSERT_TRUE(peer->ExecScript("lock", "BEGIN; SELECT head FROM log_counter WHERE id=1 FOR UPDATE").ok());
  constexpr int kCommits = 20;
  std::vector<std::promise<absl::StatusOr<CommitResult>>> answers(kCommits);
  (*a)->CommitAsync(OneEvent("first", "x"), [&answers](absl::StatusOr<CommitResult> r) { answers[0].set_value(r); });
  absl::SleepFor(absl::Milliseconds(200));  // the writer now waits for the lock with "first" alone
  for (int i = 1; i < kCommits; ++i) {
    (*a)->CommitAsync(OneEvent(absl::StrCat("later-", i), "x"),
                      [&answers, i](absl::StatusOr<CommitResult> r) { answers[static_cast<size_t>(i)].set_value(r); });
  }
  absl::SleepFor(absl::Milliseconds(200));
  ASSERT_TRUE(peer->ExecScript("unlock", "ROLLBACK").ok());
  for (int i = 0; i < kCommits; ++i) {
    auto r = answers[static_cast<size_t>(i)].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->last_sequence, i + 1) << "commit " << i;
  }
  Store::Stats s = (*a)->stats();
  EXPECT_EQ(s.locked_transactions, 1) << "the commits sent during the wait took a hold of their own";
  EXPECT_EQ(s.locked_mutations, kCommits);
}

// A schema from before the routes version: opening it adds the column, and
// the version works (never 0; a change is seen on every replica).
TEST(PgStore, ASchemaFromBeforeTheRoutesVersionGetsIt) {
  auto env = PgEnv();
  ASSERT_NE(env, nullptr);
  {
    auto admin = Admin(env->where());
    ASSERT_NE(admin, nullptr);
    const std::string schema = pg::QuoteIdent(env->where());
    auto r = admin->ExecScript(
        "old schema", "CREATE SCHEMA " + schema + "; CREATE TABLE " + schema +
                          ".log_counter(id smallint PRIMARY KEY CHECK (id = 1), head bigint NOT NULL, "
                          "create_us bigint NOT NULL); INSERT INTO " + schema +
                          ".log_counter VALUES(1, 0, 0)");
    ASSERT_TRUE(r.ok()) << r.status();
  }
  auto a = env->Open();
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = env->Open();
  ASSERT_TRUE(b.ok()) << b.status();
  const uint64_t v0 = RoutesVersion(**a);
  EXPECT_NE(v0, 0u);
  EXPECT_EQ(RoutesVersion(**b), v0);
  ASSERT_TRUE((*a)->Commit(RouteChange("a")).ok());
  EXPECT_NE(RoutesVersion(**b), v0);
  EXPECT_EQ(RoutesVersion(**b), RoutesVersion(**a));
  ASSERT_TRUE((*b)->Commit(OneEvent("e", "x")).ok()) << "the log still works on the old table";
}

}  // namespace
}  // namespace switchboard::core
