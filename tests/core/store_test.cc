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

}  // namespace
}  // namespace switchboard::core
