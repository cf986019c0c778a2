// The JobQueue conformance suite (server/core/job_queue.h): what every
// implementation must do, run against SQLite and PostgreSQL through
// store_impls.h (with PostgreSQL, a "replica" is a second store on the same
// schema). The last tests are SQLite's and PostgreSQL's own.

#include <gtest/gtest.h>

#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/job_pruner.h"
#include "server/core/job_queue.h"
#include "server/core/pg_conn.h"
#include "server/core/pg_store.h"
#include "server/core/store.h"
#include "server/core/store_rules.h"
#include "tests/core/store_impls.h"

namespace switchboard::core {
namespace {

// A fresh folder, removed at the end (the suite links sb_core alone).
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sb-jobs-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
    EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

using testing::ReplicaOptions;
using testing::StoreEnv;
using testing::StoreImpl;

std::unique_ptr<Store> OpenSqlite(const std::string& dir) {
  auto s = OpenSqliteStore({dir + "/switchboard.db"});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

constexpr char kKind[] = "test.kind";
constexpr absl::Duration kLong = absl::Minutes(10);

// Runs `sql` on the closed store file in `dir`: the layout of an earlier
// release.
void RewriteStoreFile(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/switchboard.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// One job write on `store`, waited for.
absl::StatusOr<JobLease> WriteJob(Store& store, JobWrite w) {
  std::promise<absl::StatusOr<JobLease>> p;
  store.jobs().Write(std::move(w), [&p](absl::StatusOr<JobLease> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

class JobQueueConformance : public ::testing::TestWithParam<StoreImpl> {
 protected:
  void SetUp() override {
    auto env = GetParam().make();
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = std::move(*env);
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<Store> OpenStore() {
    auto s = env_->Open();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  void TearDown() override {
    if (store_) store_->Close();
  }
  JobQueue& q() { return store_->jobs(); }
  // Closes the store and opens it again on the same state.
  void Restart() {
    store_->Close();
    store_.reset();
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  absl::StatusOr<JobLease> Write(JobWrite w) { return WriteOn(q(), std::move(w)); }
  static absl::StatusOr<JobLease> WriteOn(JobQueue& queue, JobWrite w) {
    std::promise<absl::StatusOr<JobLease>> p;
    queue.Write(std::move(w), [&p](absl::StatusOr<JobLease> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  // Enqueues and returns the new job's id (0: de-duplicated).
  int64_t Enqueue(const std::string& key, const std::string& payload = "p",
                  absl::Time run_at = absl::InfinitePast(), const std::string& kind = kKind) {
    auto r = Write(JobWrite::Enqueue(kind, key, payload, run_at));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job_id : -1;
  }
  std::vector<Job> Claim(const std::string& owner, int n, absl::Duration lease, const std::string& kind = kKind) {
    return ClaimOn(q(), owner, n, lease, kind);
  }
  static std::vector<Job> ClaimOn(JobQueue& queue, const std::string& owner, int n, absl::Duration lease,
                                  const std::string& kind = kKind) {
    std::promise<absl::StatusOr<std::vector<Job>>> p;
    queue.Claim(kind, owner, n, lease, [&p](absl::StatusOr<std::vector<Job>> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : std::vector<Job>();
  }
  absl::Status ClaimStatus(const std::string& kind, const std::string& owner, int n, absl::Duration lease) {
    std::promise<absl::Status> p;
    q().Claim(kind, owner, n, lease, [&p](absl::StatusOr<std::vector<Job>> r) { p.set_value(r.status()); });
    return p.get_future().get();
  }
  Job Get(int64_t id) {
    auto j = q().GetJob(id);
    EXPECT_TRUE(j.ok()) << j.status();
    EXPECT_TRUE(j.ok() && j->has_value()) << "job " << id << " is missing";
    return j.ok() && j->has_value() ? **j : Job();
  }
  absl::StatusOr<CommitResult> Commit(Mutation m) { return store_->Commit(std::move(m)); }

  std::unique_ptr<StoreEnv> env_;
  std::unique_ptr<Store> store_;
};

std::vector<std::string> Keys(const std::vector<Job>& jobs) {
  std::vector<std::string> keys;
  for (const auto& j : jobs) keys.push_back(j.key);
  return keys;
}

TEST_P(JobQueueConformance, AClaimLeasesTheJobToItsOwner) {
  int64_t id = Enqueue("k1", "payload-1");
  ASSERT_GT(id, 0);
  Job ready = Get(id);
  EXPECT_EQ(ready.state, JobState::kReady);
  EXPECT_EQ(ready.attempts, 0);
  EXPECT_TRUE(ready.lease.owner.empty());

  int64_t before = absl::ToUnixMicros(absl::Now());
  auto got = Claim("owner-a", 10, absl::Seconds(30));
  ASSERT_EQ(got.size(), 1u);
  const Job& j = got[0];
  EXPECT_EQ(j.id, id);
  EXPECT_EQ(j.kind, kKind);
  EXPECT_EQ(j.key, "k1");
  EXPECT_EQ(j.payload, "payload-1");
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.attempts, 1);
  EXPECT_EQ(j.lease.job_id, id);
  EXPECT_EQ(j.lease.owner, "owner-a");
  EXPECT_EQ(j.lease.token, 1);
  EXPECT_GE(j.lease.expires_us, before + 29'000'000);
  EXPECT_LE(j.lease.expires_us, absl::ToUnixMicros(absl::Now()) + 30'000'000);

  EXPECT_TRUE(Claim("owner-b", 10, absl::Seconds(30)).empty()) << "a leased job is not claimable";
  EXPECT_TRUE(Claim("owner-a", 10, absl::Seconds(30), "other.kind").empty()) << "claims are per kind";
  Job running = Get(id);
  EXPECT_EQ(running.state, JobState::kRunning);
  EXPECT_EQ(running.lease.owner, "owner-a");
}

TEST_P(JobQueueConformance, AKeyIsUniquePerKindAmongUnfinishedJobs) {
  int64_t first = Enqueue("dup");
  ASSERT_GT(first, 0);
  EXPECT_EQ(Enqueue("dup", "another payload"), 0) << "an unfinished job holds the key";
  EXPECT_GT(Enqueue("dup", "p", absl::InfinitePast(), "other.kind"), 0) << "keys are per kind";
  // An empty key de-duplicates nothing.
  EXPECT_GT(Enqueue(""), 0);
  EXPECT_GT(Enqueue(""), 0);

  auto got = Claim("a", 10, kLong);
  ASSERT_EQ(got.size(), 3u);
  std::vector<std::string> keys = Keys(got);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "dup"), 1);
  EXPECT_EQ(Enqueue("dup"), 0) << "a running job still holds its key";
  for (const auto& j : got) {
    if (j.key == "dup") {
      EXPECT_EQ(j.payload, "p") << "the first enqueue's job is kept";
      ASSERT_TRUE(Write(JobWrite::Complete(j.lease)).ok());
    }
  }
  int64_t again = Enqueue("dup");
  EXPECT_GT(again, first) << "a finished job frees its key";
}

// A job enqueued without de-duplication (a key its enqueuer has just made,
// such as a new operation's name) shares its key with anyone, and neither
// FindUnfinished nor Wake sees it; its holder still gets it with its key.
TEST_P(JobQueueConformance, AJobThatDoesNotDeduplicateIsNeitherCheckedNorFoundByItsKey) {
  auto named = [&](const std::string& payload) {
    JobWrite w = JobWrite::Enqueue(kKind, "named", payload);
    w.deduplicate = false;
    auto r = Write(std::move(w));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job_id : -1;
  };
  int64_t first = named("n1");
  int64_t second = named("n2");
  ASSERT_GT(first, 0);
  ASSERT_GT(second, first) << "not de-duplicated: a second job with the key";
  auto found = q().FindUnfinished(kKind, "named");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_FALSE(found->has_value()) << "FindUnfinished sees only jobs that de-duplicate";
  int64_t deduplicated = Enqueue("named", "d");
  ASSERT_GT(deduplicated, second) << "the others do not hold the key";
  EXPECT_EQ(Enqueue("named", "again"), 0) << "the one that de-duplicates does";
  found = q().FindUnfinished(kKind, "named");
  ASSERT_TRUE(found.ok() && found->has_value()) << found.status();
  EXPECT_EQ((*found)->id, deduplicated);

  auto held = Claim("holder", 10, kLong);
  ASSERT_EQ(held.size(), 3u);
  EXPECT_EQ(Keys(held), (std::vector<std::string>{"named", "named", "named"})) << "each keeps its key";
  ASSERT_TRUE(Write(JobWrite::Wake(kKind, "named")).ok());
  EXPECT_EQ(Get(deduplicated).state, JobState::kReady) << "woken";
  for (int64_t id : {first, second}) {
    Job j = Get(id);
    EXPECT_EQ(j.state, JobState::kRunning) << "job " << id << ": Wake does not see it";
    EXPECT_EQ(j.lease.owner, "holder");
  }
  for (const Job& j : held) {
    if (j.id != deduplicated) {
      EXPECT_TRUE(Write(JobWrite::Complete(j.lease)).ok()) << "its holder's lease is good";
    }
  }
}

TEST_P(JobQueueConformance, ClaimsTakeDueJobsEarliestFirst) {
  absl::Time now = absl::Now();
  Enqueue("b", "p", now - absl::Seconds(1));
  Enqueue("a", "p", now - absl::Seconds(3));
  Enqueue("c", "p", now - absl::Seconds(2));
  int64_t later = Enqueue("later", "p", now + absl::Hours(1));
  EXPECT_EQ(Keys(Claim("o", 2, kLong)), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(Keys(Claim("o", 10, kLong)), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(Claim("o", 10, kLong).empty()) << "a job is not claimable before its run_at";
  Job j = Get(later);
  EXPECT_EQ(j.state, JobState::kReady);
  EXPECT_GE(j.run_at_us, absl::ToUnixMicros(now + absl::Minutes(59)));
}

TEST_P(JobQueueConformance, AnExpiredLeaseIsClaimableAgainAndFencesItsOldHolder) {
  int64_t id = Enqueue("k");
  auto first = Claim("holder-a", 1, absl::Milliseconds(200));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(Claim("holder-b", 1, kLong).empty());
  absl::SleepFor(absl::Milliseconds(400));
  auto second = Claim("holder-b", 1, kLong);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, id);
  EXPECT_EQ(second[0].lease.owner, "holder-b");
  EXPECT_GT(second[0].lease.token, first[0].lease.token) << "the fencing token grows with each claim";
  EXPECT_EQ(second[0].attempts, 2);

  // Every write of the old holder is refused, and changes nothing.
  const JobLease& old = first[0].lease;
  for (JobWrite w : {JobWrite::Complete(old), JobWrite::Heartbeat(old, kLong),
                     JobWrite::RetryAt(old, absl::Now(), "late"), JobWrite::Fail(old, "late")}) {
    auto r = Write(w);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
    EXPECT_NE(r.status().message().find("lease lost"), absl::string_view::npos) << r.status();
  }
  // The same owner with a stale token is fenced too.
  JobLease stale = second[0].lease;
  stale.token = first[0].lease.token;
  EXPECT_EQ(Write(JobWrite::Complete(stale)).status().code(), absl::StatusCode::kFailedPrecondition);

  Job now = Get(id);
  EXPECT_EQ(now.state, JobState::kRunning);
  EXPECT_EQ(now.lease.owner, "holder-b");
  EXPECT_EQ(now.lease.token, second[0].lease.token);
  EXPECT_TRUE(now.last_error.empty());
  ASSERT_TRUE(Write(JobWrite::Complete(second[0].lease)).ok());
  EXPECT_EQ(Get(id).state, JobState::kDone);
}

TEST_P(JobQueueConformance, WakeMakesAHeldJobReadyNowAndFencesItsHolder) {
  int64_t id = Enqueue("k", "p", absl::Now() + absl::Hours(1));
  EXPECT_TRUE(Claim("holder-a", 1, kLong).empty()) << "not due for an hour";
  ASSERT_TRUE(Write(JobWrite::Wake(kKind, "k")).ok());
  auto first = Claim("holder-a", 1, kLong);
  ASSERT_EQ(first.size(), 1u) << "woken: due now";
  EXPECT_EQ(first[0].id, id);

  // Woken while held (by a write on another replica): READY at once, and
  // the holder's writes are refused from then on.
  ASSERT_TRUE(Write(JobWrite::Wake(kKind, "k")).ok());
  Job woken = Get(id);
  EXPECT_EQ(woken.state, JobState::kReady);
  EXPECT_TRUE(woken.lease.owner.empty());
  auto r = Write(JobWrite::Heartbeat(first[0].lease, kLong));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(r.status().message().find("lease lost"), absl::string_view::npos) << r.status();
  auto second = Claim("holder-b", 1, kLong);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GT(second[0].lease.token, first[0].lease.token);
  EXPECT_EQ(second[0].payload, "p") << "waking keeps the payload";
  EXPECT_EQ(Write(JobWrite::Complete(first[0].lease)).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Write(JobWrite::Complete(second[0].lease)).ok());

  // A finished job, or a key no job has, is left alone.
  ASSERT_TRUE(Write(JobWrite::Wake(kKind, "k")).ok());
  EXPECT_EQ(Get(id).state, JobState::kDone);
  ASSERT_TRUE(Write(JobWrite::Wake(kKind, "nobody")).ok());
  EXPECT_TRUE(Claim("holder-c", 5, kLong).empty());
  // Waking needs both names.
  EXPECT_EQ(Write(JobWrite::Wake("", "k")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Write(JobWrite::Wake(kKind, "")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(JobQueueConformance, AHeartbeatExtendsTheLease) {
  Enqueue("k");
  auto got = Claim("a", 1, absl::Milliseconds(300));
  ASSERT_EQ(got.size(), 1u);
  int64_t before = absl::ToUnixMicros(absl::Now());
  auto renewed = Write(JobWrite::Heartbeat(got[0].lease, absl::Seconds(30)));
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(renewed->job_id, got[0].id);
  EXPECT_EQ(renewed->token, got[0].lease.token) << "a heartbeat is not a new claim";
  EXPECT_GE(renewed->expires_us, before + 29'000'000);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_TRUE(Claim("b", 1, kLong).empty()) << "the heartbeat kept the lease past its first expiry";
  EXPECT_EQ(Get(got[0].id).lease.expires_us, renewed->expires_us);
}

TEST_P(JobQueueConformance, ACheckpointRecordsProgressUnderTheLease) {
  int64_t id = Enqueue("cursor", "0");
  auto got = Claim("a", 1, absl::Milliseconds(300));
  ASSERT_EQ(got.size(), 1u);
  int64_t before = absl::ToUnixMicros(absl::Now());
  auto saved = Write(JobWrite::Checkpoint(got[0].lease, "41", absl::Seconds(30)));
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->job_id, id);
  EXPECT_EQ(saved->token, got[0].lease.token) << "a checkpoint is not a new claim";
  EXPECT_GE(saved->expires_us, before + 29'000'000);
  Job j = Get(id);
  EXPECT_EQ(j.payload, "41");
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.attempts, 1);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_TRUE(Claim("b", 1, kLong).empty()) << "the checkpoint kept the lease past its first expiry";

  // With the work it stands for, in one mutation: both or neither.
  Mutation m;
  m.writes.push_back({"thing", "progress/42", "done", false});
  m.jobs.push_back(JobWrite::Checkpoint(got[0].lease, "42", absl::Milliseconds(100)));
  ASSERT_TRUE(Commit(std::move(m)).ok());
  EXPECT_EQ(Get(id).payload, "42");

  // Once the lease is taken over, the old holder's checkpoint is refused,
  // and neither it nor its mutation's other writes land.
  absl::SleepFor(absl::Milliseconds(300));
  auto taken = Claim("b", 1, kLong);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].payload, "42") << "the next holder reads the last checkpoint";
  Mutation late;
  late.writes.push_back({"thing", "progress/43", "done", false});
  late.jobs.push_back(JobWrite::Checkpoint(got[0].lease, "43", kLong));
  auto lost = Commit(std::move(late));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition) << lost.status();
  EXPECT_NE(lost.status().message().find("lease lost"), absl::string_view::npos) << lost.status();
  EXPECT_FALSE(store_->GetResource("thing", "progress/43")->has_value());
  EXPECT_EQ(Get(id).payload, "42");

  // The payload outlives a release: a retry_at keeps it for the next claim.
  ASSERT_TRUE(Write(JobWrite::Checkpoint(taken[0].lease, "50", kLong)).ok());
  ASSERT_TRUE(Write(JobWrite::RetryAt(taken[0].lease, absl::Now(), "released")).ok());
  auto again = Claim("c", 1, kLong);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].payload, "50");
}

TEST_P(JobQueueConformance, AnExpiredLeaseNobodyTookOverIsStillGood) {
  int64_t id = Enqueue("k");
  auto got = Claim("a", 1, absl::Milliseconds(100));
  ASSERT_EQ(got.size(), 1u);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(Write(JobWrite::Heartbeat(got[0].lease, kLong)).ok());
  EXPECT_TRUE(Write(JobWrite::Complete(got[0].lease)).ok());
  EXPECT_EQ(Get(id).state, JobState::kDone);
}

TEST_P(JobQueueConformance, RetryAtMakesTheJobReadyLaterAndAttemptsCount) {
  int64_t id = Enqueue("k", "work");
  auto first = Claim("a", 1, kLong);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(Write(JobWrite::RetryAt(first[0].lease, absl::Now() + absl::Milliseconds(300), "receiver said 503"))
                  .ok());
  Job waiting = Get(id);
  EXPECT_EQ(waiting.state, JobState::kReady);
  EXPECT_EQ(waiting.last_error, "receiver said 503");
  EXPECT_EQ(waiting.attempts, 1);
  EXPECT_TRUE(waiting.lease.owner.empty());
  EXPECT_TRUE(Claim("a", 1, kLong).empty()) << "not before the retry's time";
  absl::SleepFor(absl::Milliseconds(500));
  auto second = Claim("b", 1, kLong);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempts, 2);
  EXPECT_EQ(second[0].payload, "work");
  EXPECT_EQ(second[0].last_error, "receiver said 503");
  EXPECT_GT(second[0].lease.token, first[0].lease.token);
  // A retry at once (a time already past) is claimable at once.
  ASSERT_TRUE(Write(JobWrite::RetryAt(second[0].lease, absl::Now() - absl::Seconds(1), "again")).ok());
  auto third = Claim("a", 1, kLong);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].attempts, 3);
  EXPECT_EQ(Write(JobWrite::Complete(second[0].lease)).status().code(), absl::StatusCode::kFailedPrecondition)
      << "a retry gives the lease up";
}

TEST_P(JobQueueConformance, FailEndsTheJobAndFreesItsKey) {
  int64_t id = Enqueue("k");
  auto got = Claim("a", 1, kLong);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(Write(JobWrite::Fail(got[0].lease, "payload unreadable")).ok());
  Job failed = Get(id);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.last_error, "payload unreadable");
  EXPECT_TRUE(Claim("a", 1, kLong).empty());
  auto again = Write(JobWrite::Complete(got[0].lease));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
  EXPECT_GT(Enqueue("k"), id);
}

TEST_P(JobQueueConformance, CompleteEndsTheJob) {
  int64_t id = Enqueue("k");
  auto got = Claim("a", 1, kLong);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(Write(JobWrite::Complete(got[0].lease)).ok());
  EXPECT_EQ(Get(id).state, JobState::kDone);
  EXPECT_EQ(Get(id).payload, "") << "a finished job keeps no payload";
  EXPECT_TRUE(Claim("a", 1, kLong).empty());
  auto twice = Write(JobWrite::Complete(got[0].lease));
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition) << twice.status();
  EXPECT_NE(twice.status().message().find("DONE"), absl::string_view::npos) << twice.status();
}

// job_retention_seconds 0: a completed job is deleted as it completes (its
// key free again, a late write of its holder refused as a finished job's);
// a failed one is still kept for the pruner.
TEST_P(JobQueueConformance, WithoutDoneJobsKeptACompletedJobLeavesNoRow) {
  store_->Close();
  ReplicaOptions o;
  o.keep_done_jobs = false;
  auto s = env_->Open(o);
  ASSERT_TRUE(s.ok()) << s.status();
  store_ = std::move(*s);

  int64_t id = Enqueue("k");
  auto got = Claim("a", 1, kLong);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(Write(JobWrite::Complete(got[0].lease)).ok());
  auto gone = q().GetJob(id);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->has_value()) << "state " << JobStateName((*gone)->state);
  EXPECT_TRUE(Claim("a", 1, kLong).empty());
  auto twice = Write(JobWrite::Complete(got[0].lease));
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition) << twice.status();
  EXPECT_NE(twice.status().message().find("finished"), absl::string_view::npos) << twice.status();
  auto late = Write(JobWrite::Heartbeat(got[0].lease, kLong));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition) << late.status();
  EXPECT_GT(Enqueue("k"), id) << "the key is free again";

  auto claimed = Write(JobWrite::EnqueueClaimed(kKind, "at-once", "p", "enqueuer", absl::Seconds(30)));
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_TRUE(Write(JobWrite::Complete(*claimed)).ok());
  auto gone2 = q().GetJob(claimed->job_id);
  ASSERT_TRUE(gone2.ok()) << gone2.status();
  EXPECT_FALSE(gone2->has_value());

  int64_t failing = Enqueue("f", "p", absl::InfinitePast(), "test.other");
  auto f = Claim("a", 1, kLong, "test.other");
  ASSERT_EQ(f.size(), 1u);
  ASSERT_TRUE(Write(JobWrite::Fail(f[0].lease, "broken")).ok());
  Job failed = Get(failing);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.last_error, "broken");
}

TEST_P(JobQueueConformance, AnEnqueueCanClaimItsJobAtOnce) {
  auto lease = Write(JobWrite::EnqueueClaimed(kKind, "mine", "p", "enqueuer", absl::Seconds(30)));
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_GT(lease->job_id, 0);
  EXPECT_EQ(lease->owner, "enqueuer");
  EXPECT_EQ(lease->token, 1);
  Job j = Get(lease->job_id);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.attempts, 1);
  EXPECT_TRUE(Claim("other", 1, kLong).empty());
  EXPECT_TRUE(Write(JobWrite::Complete(*lease)).ok());
}

TEST_P(JobQueueConformance, JobWritesCommitWithTheirMutationOrNotAtAll) {
  // Enqueued in the same transaction as the state it belongs to.
  Mutation m;
  m.writes.push_back({"thing", "things/1", "v1", false});
  m.jobs.push_back(JobWrite::Enqueue(kKind, "things/1", "do it"));
  auto r = Commit(std::move(m));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->jobs.size(), 1u);
  EXPECT_GT(r->jobs[0].job_id, 0);
  auto got = Claim("a", 10, kLong);
  ASSERT_EQ(got.size(), 1u);

  // A mutation that fails enqueues nothing.
  Mutation refused;
  refused.writes.push_back({"thing", "things/2", "v2", false});
  refused.jobs.push_back(JobWrite::Enqueue(kKind, "things/2", "do it"));
  refused.prepare = [](TxnReader&, Mutation&) { return absl::AbortedError("no"); };
  EXPECT_EQ(Commit(std::move(refused)).status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(Claim("a", 10, kLong).empty()) << "the refused mutation's job was enqueued";

  // A repeat of a request_id enqueues nothing again.
  auto idem = [] {
    Mutation i;
    i.scope = "test.Op";
    i.request_id = "req-1";
    i.fingerprint = "f";
    i.jobs.push_back(JobWrite::Enqueue(kKind, "", "once"));
    return i;
  };
  ASSERT_TRUE(Commit(idem()).ok());
  auto repeat = Commit(idem());
  ASSERT_TRUE(repeat.ok());
  EXPECT_TRUE(repeat->replayed);
  EXPECT_EQ(Claim("a", 10, kLong).size(), 1u);

  // The outcome and the completion commit together: a holder that lost its
  // lease writes neither.
  Mutation late;
  late.writes.push_back({"thing", "things/1", "outcome", false});
  JobLease wrong = got[0].lease;
  wrong.token += 100;
  late.jobs.push_back(JobWrite::Complete(wrong));
  auto lost = Commit(std::move(late));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition) << lost.status();
  EXPECT_EQ(*store_->GetResource("thing", "things/1"), std::optional<std::string>("v1"));

  // Several job writes are one: the second refused, the first is undone.
  Mutation both;
  both.jobs.push_back(JobWrite::Enqueue(kKind, "things/3", "p"));
  both.jobs.push_back(JobWrite::Complete(wrong));
  EXPECT_EQ(Commit(std::move(both)).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_GT(Enqueue("things/3"), 0) << "the refused mutation's enqueue was kept";

  Mutation done;
  done.writes.push_back({"thing", "things/1", "outcome", false});
  done.jobs.push_back(JobWrite::Complete(got[0].lease));
  ASSERT_TRUE(Commit(std::move(done)).ok());
  EXPECT_EQ(Get(got[0].id).state, JobState::kDone);
  EXPECT_EQ(*store_->GetResource("thing", "things/1"), std::optional<std::string>("outcome"));
}

TEST_P(JobQueueConformance, UnfinishedJobsSurviveARestart) {
  int64_t ready = Enqueue("ready", "r", absl::Now() - absl::Seconds(2));
  int64_t running = Enqueue("running", "x", absl::Now() - absl::Seconds(1));
  int64_t later = Enqueue("later", "l", absl::Now() + absl::Hours(1));
  auto got = Claim("gone", 2, absl::Milliseconds(100));
  ASSERT_EQ(got.size(), 2u);
  // One of the two claimed finishes; the other's holder dies with its lease.
  const Job& a = got[0].id == ready ? got[0] : got[1];
  const Job& b = got[0].id == running ? got[0] : got[1];
  ASSERT_EQ(a.id, ready);
  ASSERT_EQ(b.id, running);
  ASSERT_TRUE(Write(JobWrite::Complete(a.lease)).ok());
  int64_t fresh = Enqueue("fresh", "f");
  absl::SleepFor(absl::Milliseconds(200));
  Restart();

  EXPECT_EQ(Get(ready).state, JobState::kDone);
  auto after = Claim("new-owner", 10, kLong);
  ASSERT_EQ(after.size(), 2u) << "the running job whose lease expired and the ready one";
  EXPECT_EQ(after[0].id, running);
  EXPECT_EQ(after[0].payload, "x");
  EXPECT_EQ(after[0].attempts, 2);
  EXPECT_GT(after[0].lease.token, b.lease.token);
  EXPECT_EQ(after[1].id, fresh);
  EXPECT_EQ(Write(JobWrite::Complete(b.lease)).status().code(), absl::StatusCode::kFailedPrecondition)
      << "the dead holder's lease is fenced after the restart";
  EXPECT_EQ(Get(later).state, JobState::kReady);
  EXPECT_EQ(Enqueue("later"), 0) << "keys survive the restart";
}

TEST_P(JobQueueConformance, ConcurrentClaimsNeverShareAJob) {
  constexpr int kJobs = 300;
  for (int i = 0; i < kJobs; ++i) Enqueue("j" + std::to_string(i));
  std::mutex mu;
  std::map<int64_t, int> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (;;) {
        auto got = Claim("owner-" + std::to_string(t), 7, kLong);
        if (got.empty()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& j : got) ++claimed[j.id];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, n] : claimed) EXPECT_EQ(n, 1) << "job " << id << " claimed " << n << " times";
}

TEST_P(JobQueueConformance, BadCallsAreRefusedNamingWhatToFix) {
  auto refused = [](absl::Status s, absl::string_view field) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(field), absl::string_view::npos) << s;
  };
  refused(ClaimStatus("", "o", 1, kLong), "kind");
  refused(ClaimStatus(kKind, "", 1, kLong), "owner");
  refused(ClaimStatus(kKind, "o", 0, kLong), "n is 0");
  refused(ClaimStatus(kKind, "o", 1, absl::ZeroDuration()), "lease");
  refused(Write(JobWrite::Enqueue("", "k", "p")).status(), "kind");
  refused(Write(JobWrite::Complete(JobLease{})).status(), "job_id");
  refused(Write(JobWrite::Complete(JobLease{5, "", 1, 0})).status(), "owner");
  refused(Write(JobWrite::Complete(JobLease{5, "o", 0, 0})).status(), "token");
  refused(Write(JobWrite::Checkpoint(JobLease{5, "o", 1, 0}, "p", absl::ZeroDuration())).status(), "checkpoint lease");
  auto missing = Write(JobWrite::Complete(JobLease{987654, "o", 1, 0}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  auto none = q().GetJob(987654);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_P(JobQueueConformance, PruneDeletesOnlyFinishedJobsPastTheCutoff) {
  auto run = [&](const std::string& key, bool fail) {
    int64_t id = Enqueue(key);
    auto got = Claim("a", 1, kLong);
    EXPECT_EQ(got.size(), 1u);
    if (got.empty()) return id;
    EXPECT_TRUE(Write(fail ? JobWrite::Fail(got[0].lease, "no") : JobWrite::Complete(got[0].lease)).ok());
    return id;
  };
  int64_t done_old = run("done-old", false);
  int64_t failed_old = run("failed-old", true);
  // Unfinished ones, however old, stay.
  int64_t ready_old = Enqueue("ready-old", "p", absl::Now() + absl::Hours(1));
  int64_t running_old = Enqueue("running-old");
  ASSERT_EQ(Claim("holder", 1, kLong).size(), 1u);
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time cutoff = absl::Now();
  absl::SleepFor(absl::Milliseconds(50));
  int64_t done_new = run("done-new", false);
  auto count = q().CountUnfinished(kKind);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 2) << "ready-old and running-old";

  auto prune = [&](absl::Time before, int n) {
    std::promise<absl::StatusOr<int>> p;
    q().Prune(before, n, [&p](absl::StatusOr<int> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  };
  auto first = prune(cutoff, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1) << "at most n";
  auto gone = q().GetJob(done_old);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value()) << "the longest finished goes first";
  EXPECT_EQ(Get(failed_old).state, JobState::kFailed);
  auto rest = prune(cutoff, 10);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(*rest, 1) << "failed jobs are finished too";
  EXPECT_EQ(*prune(cutoff, 10), 0);
  EXPECT_FALSE(q().GetJob(failed_old)->has_value());
  EXPECT_EQ(Get(ready_old).state, JobState::kReady);
  EXPECT_EQ(Get(running_old).state, JobState::kRunning);
  EXPECT_EQ(Get(done_new).state, JobState::kDone) << "finished after the cutoff";
  EXPECT_EQ(*q().CountUnfinished(kKind), 2);

  // Ids of pruned jobs are never given again, and their keys are free.
  EXPECT_GT(Enqueue("done-old"), done_new);
  auto bad = prune(cutoff, 0);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
}

TEST_P(JobQueueConformance, ThePrunerDeletesInBatchesUntilNothingIsPastRetention) {
  constexpr int kJobs = 23;
  for (int i = 0; i < kJobs; ++i) Enqueue("j" + std::to_string(i));
  auto got = Claim("a", kJobs, kLong);
  ASSERT_EQ(got.size(), static_cast<size_t>(kJobs));
  for (const Job& j : got) ASSERT_TRUE(Write(JobWrite::Complete(j.lease)).ok());
  int64_t kept = Enqueue("unfinished");

  JobPruner::Options long_retention;
  long_retention.retention = absl::Hours(1);
  long_retention.batch = 5;
  Pool timers({"prune", 1, 16});
  auto none = JobPruner(&q(), &timers, long_retention).PruneNow();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0) << "nothing finished an hour ago";

  absl::SleepFor(absl::Milliseconds(20));
  JobPruner::Options o;
  o.retention = absl::Milliseconds(10);
  o.batch = 5;
  JobPruner pruner(&q(), &timers, o);
  auto n = pruner.PruneNow();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, kJobs) << "batches of 5 until one came back short";
  for (const Job& j : got) EXPECT_FALSE(q().GetJob(j.id)->has_value()) << j.key;
  EXPECT_EQ(Get(kept).state, JobState::kReady);

  // On its timer too.
  auto again = Claim("a", 1, kLong);
  ASSERT_EQ(again.size(), 1u);
  ASSERT_TRUE(Write(JobWrite::Complete(again[0].lease)).ok());
  o.interval = absl::Milliseconds(50);
  JobPruner timed(&q(), &timers, o);
  timed.Start();
  for (int i = 0; i < 100 && q().GetJob(kept)->has_value(); ++i) absl::SleepFor(absl::Milliseconds(20));
  timed.Stop();
  EXPECT_FALSE(q().GetJob(kept)->has_value()) << "the timer's round did not prune";
}

// Leases across replicas: a job whose lease expired on replica A is claimed
// by B, and A's late writes are fenced off (one store for SQLite).
TEST_P(JobQueueConformance, AnExpiredLeaseIsTakenOverByAnotherReplicaAndFencesTheFirst) {
  std::unique_ptr<Store> other;
  if (env_->replicas()) {
    other = OpenStore();
    ASSERT_NE(other, nullptr);
  }
  JobQueue& a = q();
  JobQueue& b = other ? other->jobs() : q();
  int64_t id = Enqueue("shared");
  auto held = ClaimOn(a, "replica-a", 1, absl::Milliseconds(200));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_TRUE(ClaimOn(b, "replica-b", 1, kLong).empty()) << "a live lease is not claimable on another replica";
  absl::SleepFor(absl::Milliseconds(400));
  auto taken = ClaimOn(b, "replica-b", 1, kLong);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].id, id);
  EXPECT_GT(taken[0].lease.token, held[0].lease.token);
  // A's completion, alone or with the outcome it records, is refused.
  auto late = WriteOn(a, JobWrite::Complete(held[0].lease));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition) << late.status();
  EXPECT_NE(late.status().message().find("lease lost"), absl::string_view::npos) << late.status();
  Mutation outcome;
  outcome.writes.push_back({"thing", "outcome/a", "late", false});
  outcome.jobs.push_back(JobWrite::Complete(held[0].lease));
  EXPECT_EQ(Commit(std::move(outcome)).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(store_->GetResource("thing", "outcome/a")->has_value());
  Job j = Get(id);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.lease.owner, "replica-b");
  ASSERT_TRUE(WriteOn(b, JobWrite::Complete(taken[0].lease)).ok());
  EXPECT_EQ(Get(id).state, JobState::kDone);
}

TEST_P(JobQueueConformance, ReleaseOwnedByFreesADeadPredecessorsLeasesAndNoOneElses) {
  int64_t mine = Enqueue("mine");
  int64_t theirs = Enqueue("theirs");
  auto a = Claim("instance-a/host/1/dead", 1, kLong);
  auto b = Claim("instance-b/host/2/live", 1, kLong);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(a[0].id, mine);

  std::promise<absl::StatusOr<int>> p;
  q().ReleaseOwnedBy("instance-a/", [&p](absl::StatusOr<int> n) { p.set_value(std::move(n)); });
  absl::StatusOr<int> released = p.get_future().get();
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(*released, 1);
  EXPECT_EQ(Get(mine).state, JobState::kReady);
  EXPECT_TRUE(Get(mine).lease.owner.empty());
  EXPECT_EQ(Get(theirs).state, JobState::kRunning) << "another instance's lease is kept";
  EXPECT_EQ(Get(theirs).lease.owner, "instance-b/host/2/live");

  // The dead holder's writes are refused; the next claim takes the next token.
  EXPECT_EQ(Write(JobWrite::Complete(a[0].lease)).status().code(), absl::StatusCode::kFailedPrecondition);
  auto again = Claim("instance-a/host/3/new", 1, kLong);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, mine);
  EXPECT_EQ(again[0].lease.token, a[0].lease.token + 1);

  std::promise<absl::Status> bad;
  q().ReleaseOwnedBy("", [&bad](absl::StatusOr<int> n) { bad.set_value(n.status()); });
  EXPECT_EQ(bad.get_future().get().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(JobQueueConformance, FindUnfinishedGivesTheJobOfAKeyUntilItFinishes) {
  auto find = [&](const std::string& kind, const std::string& key) -> std::optional<Job> {
    auto j = q().FindUnfinished(kind, key);
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? *j : std::nullopt;
  };
  EXPECT_FALSE(find(kKind, "k").has_value()) << "no job has the key yet";
  int64_t id = Enqueue("k", "payload-k");
  Enqueue("k", "p", absl::InfinitePast(), "other.kind");
  std::optional<Job> ready = find(kKind, "k");
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->id, id);
  EXPECT_EQ(ready->kind, kKind);
  EXPECT_EQ(ready->payload, "payload-k");
  EXPECT_EQ(ready->state, JobState::kReady);
  EXPECT_TRUE(ready->lease.owner.empty());
  EXPECT_NE(find("other.kind", "k")->id, id) << "keys are per kind";

  auto held = Claim("holder-a", 1, kLong);
  ASSERT_EQ(held.size(), 1u);
  std::optional<Job> running = find(kKind, "k");
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(running->state, JobState::kRunning);
  EXPECT_EQ(running->lease.job_id, id);
  EXPECT_EQ(running->lease.owner, "holder-a");
  EXPECT_EQ(running->lease.token, held[0].lease.token);
  EXPECT_EQ(running->lease.expires_us, held[0].lease.expires_us);
  // The lease it reads is good for the holder's writes.
  ASSERT_TRUE(Write(JobWrite::Heartbeat(running->lease, kLong)).ok());

  // Finished: the key is free, and the next job with it is the one found.
  ASSERT_TRUE(Write(JobWrite::Complete(held[0].lease)).ok());
  EXPECT_FALSE(find(kKind, "k").has_value()) << "a finished job is not found";
  int64_t next = Enqueue("k");
  ASSERT_GT(next, id);
  EXPECT_EQ(find(kKind, "k")->id, next);

  for (auto [kind, key, field] : {std::tuple<std::string, std::string, std::string>{"", "k", "kind"},
                                  {kKind, "", "key"}}) {
    auto bad = q().FindUnfinished(kind, key);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
    EXPECT_NE(bad.status().message().find(field), absl::string_view::npos) << bad.status();
  }
}

// A kind going away (a deleted subscription): every unfinished job of it
// fails for good, held or not; its holders are fenced off; other kinds and
// finished jobs are left alone; the failed jobs are pruned like any other.
TEST_P(JobQueueConformance, CancelAllFailsEveryUnfinishedJobOfTheKind) {
  int64_t done = Enqueue("done");
  auto finished = Claim("holder-a", 1, kLong);
  ASSERT_EQ(finished.size(), 1u);
  ASSERT_TRUE(Write(JobWrite::Complete(finished[0].lease)).ok());
  int64_t held = Enqueue("held");
  auto holding = Claim("holder-a", 1, kLong);
  ASSERT_EQ(holding.size(), 1u);
  ASSERT_EQ(holding[0].id, held);
  int64_t ready = Enqueue("ready");
  int64_t later = Enqueue("later", "p", absl::Now() + absl::Hours(1));
  int64_t other_held = Enqueue("o1", "p", absl::InfinitePast(), "other.kind");
  int64_t other_ready = Enqueue("o2", "p", absl::InfinitePast(), "other.kind");
  auto other_holding = Claim("holder-o", 1, kLong, "other.kind");
  ASSERT_EQ(other_holding.size(), 1u);
  ASSERT_EQ(other_holding[0].id, other_held);
  auto counts = q().CountByState(kKind);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->ready, 2);
  EXPECT_EQ(counts->running, 1);

  // In a mutation of its own state, which commits with it.
  Mutation m;
  m.writes.push_back({"thing", "subscriptions/s", "", true});
  m.jobs.push_back(JobWrite::CancelAll(kKind, "subscription deleted"));
  auto r = Commit(std::move(m));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->jobs.size(), 1u);
  EXPECT_EQ(r->jobs[0].job_id, 0);
  for (int64_t id : {held, ready, later}) {
    Job j = Get(id);
    EXPECT_EQ(j.state, JobState::kFailed) << "job " << id;
    EXPECT_EQ(j.last_error, "subscription deleted") << "job " << id;
    EXPECT_TRUE(j.lease.owner.empty()) << "job " << id;
  }
  EXPECT_EQ(Get(done).state, JobState::kDone) << "a finished job changed";
  EXPECT_TRUE(Get(done).last_error.empty());
  EXPECT_EQ(Get(other_held).state, JobState::kRunning) << "another kind's job changed";
  EXPECT_EQ(Get(other_held).lease.owner, "holder-o");
  EXPECT_EQ(Get(other_ready).state, JobState::kReady);

  // The holder is fenced off.
  for (JobWrite w : {JobWrite::Complete(holding[0].lease), JobWrite::Heartbeat(holding[0].lease, kLong)}) {
    auto refused = Write(std::move(w));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
    EXPECT_NE(refused.status().message().find("lease lost"), absl::string_view::npos) << refused.status();
  }
  EXPECT_EQ(Get(held).state, JobState::kFailed);
  counts = q().CountByState(kKind);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->ready, 0);
  EXPECT_EQ(counts->running, 0);
  EXPECT_EQ(*q().CountUnfinished(kKind), 0);
  EXPECT_TRUE(Claim("holder-b", 5, kLong).empty());
  EXPECT_EQ(Claim("holder-b", 5, kLong, "other.kind").size(), 1u) << "another kind's ready job is still claimable";

  // Their keys are free again; nothing unfinished: the write still commits.
  int64_t again = Enqueue("held");
  EXPECT_GT(again, held);
  ASSERT_TRUE(Write(JobWrite::CancelAll("no.such.kind", "gone")).ok());

  // Refused with the mutation: a later job write of it refused undoes it.
  Mutation refused;
  refused.jobs.push_back(JobWrite::CancelAll(kKind, "never"));
  refused.jobs.push_back(JobWrite::Complete(holding[0].lease));
  EXPECT_EQ(Commit(std::move(refused)).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Get(again).state, JobState::kReady) << "a refused mutation's cancel was applied";

  // Finished now: pruned like a failed job (the done one, the three
  // cancelled; not the new one).
  std::promise<absl::StatusOr<int>> pruned;
  q().Prune(absl::Now() + absl::Minutes(1), 100, [&pruned](absl::StatusOr<int> n) { pruned.set_value(n); });
  auto n = pruned.get_future().get();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4);
  EXPECT_FALSE(q().GetJob(held)->has_value());
  EXPECT_TRUE(q().GetJob(again)->has_value());

  EXPECT_EQ(Write(JobWrite::CancelAll("", "x")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(JobQueueConformance, CountByStateCountsAKindOrEveryKindWithAPrefix) {
  for (const char* kind : {"bus.sub/a", "bus.sub/a", "bus.sub/a", "bus.sub/a2", "bus.sub/b", "bus.sub/b", "bus.suc",
                           "bus.su", "other"}) {
    Enqueue("", "p", absl::InfinitePast(), kind);
  }
  ASSERT_EQ(Claim("holder", 1, kLong, "bus.sub/a").size(), 1u);
  ASSERT_EQ(Claim("holder", 1, kLong, "bus.sub/b").size(), 1u);
  auto finished = Claim("holder", 1, kLong, "bus.sub/a");
  ASSERT_EQ(finished.size(), 1u);
  ASSERT_TRUE(Write(JobWrite::Complete(finished[0].lease)).ok());
  ASSERT_TRUE(Write(JobWrite::CancelAll("other", "gone")).ok());

  auto counts = [&](const std::string& kind, bool prefix) {
    auto c = q().CountByState(kind, prefix);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::make_pair(c->ready, c->running) : std::make_pair<int64_t, int64_t>(-1, -1);
  };
  using P = std::pair<int64_t, int64_t>;
  EXPECT_EQ(counts("bus.sub/a", false), P(1, 1)) << "a finished job was counted";
  EXPECT_EQ(counts("bus.sub/b", false), P(1, 1));
  EXPECT_EQ(counts("bus.sub", false), P(0, 0)) << "an exact kind matched as a prefix";
  EXPECT_EQ(counts("other", false), P(0, 0)) << "a cancelled job was counted";
  EXPECT_EQ(counts("bus.sub/a", true), P(2, 1));
  EXPECT_EQ(counts("bus.sub/", true), P(3, 2));
  EXPECT_EQ(counts("bus.sub", true), P(3, 2)) << "bus.suc (just past the prefix) or bus.su was counted";
  EXPECT_EQ(counts("bus.su", true), P(5, 2));
  EXPECT_EQ(counts("", true), P(5, 2)) << "an empty prefix counts every kind";
  EXPECT_EQ(counts("zzz", true), P(0, 0));
}

TEST(StoreRules, PrefixEndIsTheLeastStringPastThePrefix) {
  EXPECT_EQ(PrefixEnd("bus.sub"), "bus.suc");
  EXPECT_EQ(PrefixEnd("a/"), "a0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff", 1)), std::nullopt);
  EXPECT_EQ(PrefixEnd(""), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(Stores, JobQueueConformance, ::testing::ValuesIn(testing::AllStoreImpls()),
                         testing::ImplName);

// SQLite's own: one process opens the file at a time (the server's data dir
// lock), so opening it releases every lease, expired or not.
TEST(SqliteJobs, OpeningTheFileReleasesEveryLease) {
  TempDir dir;
  JobLease held;
  {
    auto store = OpenSqlite(dir.path());
    std::promise<absl::StatusOr<JobLease>> p;
    store->jobs().Write(JobWrite::EnqueueClaimed(kKind, "k", "p", "crashed", absl::Hours(1)),
                        [&p](absl::StatusOr<JobLease> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    held = *r;
    store->Close();
  }
  auto store = OpenSqlite(dir.path());
  auto j = store->jobs().GetJob(held.job_id);
  ASSERT_TRUE(j.ok() && j->has_value());
  EXPECT_EQ((*j)->state, JobState::kReady);
  std::promise<absl::StatusOr<std::vector<Job>>> p;
  store->jobs().Claim(kKind, "next", 5, kLong, [&p](absl::StatusOr<std::vector<Job>> r) { p.set_value(std::move(r)); });
  auto got = p.get_future().get();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].lease.token, 2);
  store->Close();
}

// The default VFS, counting the files SQLite opens to undo one statement
// (a statement journal that outgrew memory), while Install()ed.
class SubjournalCounter {
 public:
  SubjournalCounter() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.zName = "sb-subjournal-counter";
    vfs_.pAppData = this;
    vfs_.xOpen = &Open;
    EXPECT_EQ(sqlite3_vfs_register(&vfs_, /*makeDflt=*/1), SQLITE_OK);
  }
  ~SubjournalCounter() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(real_, /*makeDflt=*/1);
  }
  int opened() const { return opened_.load(); }

 private:
  static int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out) {
    auto* self = static_cast<SubjournalCounter*>(vfs->pAppData);
    if (flags & SQLITE_OPEN_SUBJOURNAL) ++self->opened_;
    return self->real_->xOpen(self->real_, name, file, flags, out);
  }

  sqlite3_vfs* real_ = nullptr;
  sqlite3_vfs vfs_{};
  std::atomic<int> opened_{0};
};

// A claim of many jobs changes one page or more per job inside the
// writer's transaction; the pages it saves to undo it alone stay in
// memory instead of going to a temporary file made and deleted for each
// claim (PRAGMA temp_store on the writer).
TEST(SqliteJobs, AClaimOfManyLargeJobsWritesNoTemporaryFile) {
  TempDir dir;
  SubjournalCounter counter;
  auto store = OpenSqlite(dir.path());
  ASSERT_NE(store, nullptr);
  constexpr int kJobs = 300;
  Mutation m;
  for (int i = 0; i < kJobs; ++i) {
    m.jobs.push_back(JobWrite::Enqueue(kKind, absl::StrCat("k", i), std::string(3000, 'a' + i % 26)));
  }
  auto committed = store->Commit(std::move(m));
  ASSERT_TRUE(committed.ok()) << committed.status();
  std::promise<absl::StatusOr<std::vector<Job>>> p;
  store->jobs().Claim(kKind, "owner", kJobs, kLong,
                      [&p](absl::StatusOr<std::vector<Job>> r) { p.set_value(std::move(r)); });
  auto got = p.get_future().get();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), static_cast<size_t>(kJobs));
  EXPECT_EQ((*got)[7].payload, std::string(3000, 'a' + 7));
  EXPECT_EQ(counter.opened(), 0) << "the claim's statement journal went to a temporary file";
  store->Close();
}

// A data dir of the release before jobs (no jobs table) keeps opening, and
// gets one.
TEST(SqliteJobs, AStoreFromBeforeJobsOpens) {
  TempDir dir;
  {
    auto store = OpenSqlite(dir.path());
    Mutation m;
    m.writes.push_back({"thing", "things/old", "kept", false});
    ASSERT_TRUE(store->Commit(std::move(m)).ok());
    store->Close();
  }
  ASSERT_NO_FATAL_FAILURE(
      RewriteStoreFile(dir.path(), "DROP TABLE jobs; DELETE FROM sqlite_sequence WHERE name='jobs';"));
  auto store = OpenSqlite(dir.path());
  EXPECT_EQ(*store->GetResource("thing", "things/old"), std::optional<std::string>("kept"));
  std::promise<absl::StatusOr<JobLease>> p;
  store->jobs().Write(JobWrite::Enqueue(kKind, "k", "p"), [&p](absl::StatusOr<JobLease> r) { p.set_value(r); });
  auto r = p.get_future().get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->job_id, 0);
  store->Close();
}

// A data dir from before jobs_done (finished jobs kept in `jobs`, found by
// the jobs_finished index): opening it moves them to jobs_done, where they
// read as before and are pruned; the unfinished stay claimable.
TEST(SqliteJobs, AStoreWithFinishedJobsInTheLiveTableOpensAndMovesThem) {
  TempDir dir;
  int64_t done_id = 0, ready_id = 0;
  {
    auto store = OpenSqlite(dir.path());
    auto held = WriteJob(*store, JobWrite::EnqueueClaimed(kKind, "done", "p", "me", kLong));
    ASSERT_TRUE(held.ok()) << held.status();
    done_id = held->job_id;
    auto ready = WriteJob(*store, JobWrite::Enqueue(kKind, "ready", "p"));
    ASSERT_TRUE(ready.ok()) << ready.status();
    ready_id = ready->job_id;
    store->Close();
  }
  // The layout of the release before: a DONE row in `jobs`, no jobs_done.
  const std::string old_layout = absl::StrCat(
      "DROP TABLE jobs_done; CREATE INDEX jobs_finished ON jobs(due_us) WHERE state >= 2; "
      "UPDATE jobs SET state=2, owner='', lease_until_us=0, payload=x'', due_us=1000 WHERE id=",
      done_id, ";");
  ASSERT_NO_FATAL_FAILURE(RewriteStoreFile(dir.path(), old_layout));

  auto store = OpenSqlite(dir.path());
  auto done = store->jobs().GetJob(done_id);
  ASSERT_TRUE(done.ok() && done->has_value()) << done.status();
  EXPECT_EQ((*done)->state, JobState::kDone);
  EXPECT_EQ((*done)->key, "done");
  auto ready = store->jobs().GetJob(ready_id);
  ASSERT_TRUE(ready.ok() && ready->has_value());
  EXPECT_EQ((*ready)->state, JobState::kReady);
  // Moved, not copied: the live table holds only the unfinished one.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir.path() + "/switchboard.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto count = [db](const char* sql) {
    sqlite3_stmt* st = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
  };
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM jobs_done"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE name='jobs_finished'"), 0);
  sqlite3_close(db);
  // Finished at due_us 1000 (1970): the pruner's first batch takes it.
  std::promise<absl::StatusOr<int>> pruned;
  store->jobs().Prune(absl::Now(), 10, [&pruned](absl::StatusOr<int> n) { pruned.set_value(n); });
  auto n = pruned.get_future().get();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  auto gone = store->jobs().GetJob(done_id);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  store->Close();
}

// A data dir from before jobs.dedupe (every keyed job in one unique index,
// jobs_key): opening it adds the column, every job there de-duplicating,
// and swaps the index for the one of de-duplicating jobs.
TEST(SqliteJobs, AStoreFromBeforeDedupeOpensWithItsJobsStillDeduplicating) {
  TempDir dir;
  int64_t old_id = 0;
  {
    auto store = OpenSqlite(dir.path());
    auto r = WriteJob(*store, JobWrite::Enqueue(kKind, "old", "p"));
    ASSERT_TRUE(r.ok()) << r.status();
    old_id = r->job_id;
    store->Close();
  }
  ASSERT_NO_FATAL_FAILURE(RewriteStoreFile(dir.path(),
                                           "DROP INDEX jobs_key_dedupe; ALTER TABLE jobs DROP COLUMN dedupe; "
                                           "CREATE UNIQUE INDEX jobs_key ON jobs(kind, key) WHERE state < 2 AND "
                                           "key <> '';"));

  auto store = OpenSqlite(dir.path());
  auto again = WriteJob(*store, JobWrite::Enqueue(kKind, "old", "p2"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->job_id, 0) << "the job from before still holds its key";
  auto found = store->jobs().FindUnfinished(kKind, "old");
  ASSERT_TRUE(found.ok() && found->has_value()) << found.status();
  EXPECT_EQ((*found)->id, old_id);
  JobWrite named = JobWrite::Enqueue(kKind, "old", "p3");
  named.deduplicate = false;
  auto shared = WriteJob(*store, std::move(named));
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_GT(shared->job_id, old_id) << "one that does not de-duplicate goes in beside it";
  store->Close();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir.path() + "/switchboard.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT group_concat(name) FROM sqlite_master WHERE name LIKE 'jobs_key%'", -1, &st,
                               nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "jobs_key_dedupe");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// PostgreSQL's own: replicas share the table, so opening a store releases
// no lease (its holder may be alive); an expired one is simply claimable.
TEST(PgJobs, OpeningAStoreKeepsOtherReplicasLeases) {
  auto env = testing::PostgresImpl().make();
  ASSERT_TRUE(env.ok()) << env.status();
  auto a = (*env)->Open();
  ASSERT_TRUE(a.ok()) << a.status();
  std::promise<absl::StatusOr<JobLease>> p;
  (*a)->jobs().Write(JobWrite::EnqueueClaimed(kKind, "k", "p", "replica-a", absl::Hours(1)),
                     [&p](absl::StatusOr<JobLease> r) { p.set_value(std::move(r)); });
  auto held = p.get_future().get();
  ASSERT_TRUE(held.ok()) << held.status();
  auto b = (*env)->Open();
  ASSERT_TRUE(b.ok()) << b.status();
  auto j = (*b)->jobs().GetJob(held->job_id);
  ASSERT_TRUE(j.ok() && j->has_value());
  EXPECT_EQ((*j)->state, JobState::kRunning);
  EXPECT_EQ((*j)->lease.owner, "replica-a");
  std::promise<absl::StatusOr<std::vector<Job>>> c;
  (*b)->jobs().Claim(kKind, "replica-b", 5, kLong, [&c](absl::StatusOr<std::vector<Job>> r) { c.set_value(r); });
  auto got = c.get_future().get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty()) << "replica A's live lease was taken";
}

// A schema from before jobs.dedupe, as the SQLite test above: the DO block
// adds the column (every job there de-duplicating) and the index swaps.
TEST(PgJobs, ASchemaFromBeforeDedupeOpensWithItsJobsStillDeduplicating) {
  auto url = testing::TestPgUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  auto env = testing::PostgresImpl().make();
  ASSERT_TRUE(env.ok()) << env.status();
  int64_t old_id = 0;
  {
    auto store = (*env)->Open();
    ASSERT_TRUE(store.ok()) << store.status();
    auto r = WriteJob(**store, JobWrite::Enqueue(kKind, "old", "p"));
    ASSERT_TRUE(r.ok()) << r.status();
    old_id = r->job_id;
    (*store)->Close();
  }
  {
    pg::ConnectSpec spec;
    spec.url = *url;
    spec.schema = (*env)->where();
    auto c = pg::Conn::Open(spec);
    ASSERT_TRUE(c.ok()) << c.status();
    // An older build's script left no hash of this one in meta.
    auto r = (*c)->ExecScript("old layout",
                              "DROP INDEX jobs_key_dedupe; ALTER TABLE jobs DROP COLUMN dedupe; "
                              "CREATE UNIQUE INDEX jobs_key ON jobs(kind, key) WHERE state < 2 AND key <> ''; "
                              "DELETE FROM meta WHERE key = 'schema_script_sha256';");
    ASSERT_TRUE(r.ok()) << r.status();
  }
  auto store = (*env)->Open();
  ASSERT_TRUE(store.ok()) << store.status();
  auto again = WriteJob(**store, JobWrite::Enqueue(kKind, "old", "p2"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->job_id, 0) << "the job from before still holds its key";
  auto found = (*store)->jobs().FindUnfinished(kKind, "old");
  ASSERT_TRUE(found.ok() && found->has_value()) << found.status();
  EXPECT_EQ((*found)->id, old_id);
  JobWrite named = JobWrite::Enqueue(kKind, "old", "p3");
  named.deduplicate = false;
  auto shared = WriteJob(**store, std::move(named));
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_GT(shared->job_id, old_id) << "one that does not de-duplicate goes in beside it";
  (*store)->Close();
}

}  // namespace
}  // namespace switchboard::core
