// The SQLite store on real files: durability, group commit, idempotency,
// gap-free sequences.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include <sqlite3.h>

#include "server/core/request_index.h"
#include "server/core/store.h"
#include "tests/core/test_support.h"

namespace switchboard::core {
namespace {

using switchboard::testing::TempDir;

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

TEST(SqliteStore, DataSurvivesCloseAndReopen) {
  TempDir dir;
  {
    auto store = Open(dir);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Commit(OneEvent("r" + std::to_string(i), "v")).ok());
    store->Close();
  }
  auto store = Open(dir);
  EXPECT_EQ(store->HeadSequence(), 10);
  auto v = store->GetResource("thing", "things/r7");
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "v");
  auto events = store->ReadEvents(0, 100, "");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->events.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(events->events[i].sequence, i + 1);
  // A repeat after reopening still returns the first response.
  auto again = store->Commit(OneEvent("r3", "v"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->response, "v@4");
  EXPECT_EQ(store->HeadSequence(), 10);
}

TEST(SqliteStore, ConcurrentWritersShareTransactions) {
  TempDir dir;
  auto store = Open(dir);
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
  EXPECT_LT(stats.transactions, total) << "concurrent writers must share fsyncs (group commit)";
}

TEST(SqliteStore, RepeatWithDifferentContentIsAlreadyExists) {
  TempDir dir;
  auto store = Open(dir);
  ASSERT_TRUE(store->Commit(OneEvent("same", "a")).ok());
  auto r = store->Commit(OneEvent("same", "b"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->HeadSequence(), 1);
}

TEST(SqliteStore, RepeatsInOneBatchAreReplaysOfTheFirst) {
  TempDir dir;
  auto store = Open(dir);
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
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return left == 0; });
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(replayed, kIds);
  EXPECT_EQ(store->HeadSequence(), kIds) << "a repeat appended an event";
  for (const auto& [id, got] : responses) EXPECT_EQ(got.size(), 1u) << id << ": the repeat got another response";
}

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

// A request_id names one request of one RPC (docs/api.md): the same id
// under another scope is ALREADY_EXISTS naming the first, also after a
// restart, and nothing is applied.
TEST(SqliteStore, ARequestIdUsedUnderAnotherScopeIsAlreadyExists) {
  TempDir dir;
  {
    auto store = Open(dir);
    ASSERT_TRUE(store->Commit(OneEvent("shared", "x")).ok());
    Mutation other = OneEvent("shared", "x");
    other.scope = "test.OtherOp";
    auto r = store->Commit(std::move(other));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_NE(r.status().message().find("first used for test.Op, not test.OtherOp"), absl::string_view::npos)
        << r.status();
    EXPECT_EQ(store->HeadSequence(), 1) << "nothing applied";
  }
  auto store = Open(dir);
  Mutation other = OneEvent("shared", "x");
  other.scope = "test.OtherOp";
  EXPECT_EQ(store->Commit(std::move(other)).status().code(), absl::StatusCode::kAlreadyExists) << "after a restart";
  auto again = store->Commit(OneEvent("shared", "x"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed) << "its own scope still replays";
}

TEST(SqliteStore, FailedMutationLeavesNoGapAndNoWrites) {
  TempDir dir;
  auto store = Open(dir);
  std::vector<std::thread> threads;
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
}

TEST(SqliteStore, PrepareSeesEarlierMutationsOfTheSameBatch) {
  TempDir dir;
  auto store = Open(dir);
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
  EXPECT_EQ(done.load(), 10);
  auto v = store->GetResource("counter", "c");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "10");
}

TEST(SqliteStore, ReadEventsFiltersByServiceAndReportsScanPosition) {
  TempDir dir;
  auto store = Open(dir);
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
}

TEST(SqliteStore, CommitsAfterCloseAreUnavailable) {
  TempDir dir;
  auto store = Open(dir);
  store->Close();
  EXPECT_EQ(store->Commit(OneEvent("late", "x")).status().code(), absl::StatusCode::kUnavailable);
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

}  // namespace
}  // namespace switchboard::core
