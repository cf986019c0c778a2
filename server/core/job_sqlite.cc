#include "server/core/job_sqlite.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "server/core/store_rules.h"

namespace switchboard::core::sqlite {
namespace {

// Unfinished jobs (READY, RUNNING) live in `jobs`; a job that finishes
// moves, in the same transaction, to `jobs_done` (DONE or FAILED, without
// its lease), where the pruner finds it by when it finished. `jobs` then
// stays as small as the work under way, whatever the retention: a finished
// job costs one row removed there and one appended here, not a row kept
// among the live ones with an index entry of its own (measured in
// docs/performance.md, "Finished jobs in a table of their own").
//
// due_us is when a job in `jobs` can next be claimed: run_at_us while
// READY, the lease's expiry while RUNNING. One partial index on it serves
// every claim; another keeps keys unique among unfinished jobs (their
// WHERE clauses are the same as when finished jobs shared the table, so a
// data dir from then opens with them as they are), and only jobs that
// de-duplicate (`dedupe`, JobWrite::deduplicate) have an entry there: a
// data dir from before the column gets it, every job it holds
// de-duplicating, and the index that leaves the others out (AddDedupe).
// AUTOINCREMENT: an id is
// never given again, so (id, token) names one claim for ever, even once
// old jobs are pruned; a job keeps its id in `jobs_done`.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  state INTEGER NOT NULL,
  run_at_us INTEGER NOT NULL,
  due_us INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  payload BLOB NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '',
  token INTEGER NOT NULL DEFAULT 0,
  lease_until_us INTEGER NOT NULL DEFAULT 0,
  create_us INTEGER NOT NULL,
  dedupe INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(kind, due_us) WHERE state < 2;
CREATE TABLE IF NOT EXISTS jobs_done(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  state INTEGER NOT NULL,
  run_at_us INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  payload BLOB NOT NULL,
  last_error TEXT NOT NULL,
  token INTEGER NOT NULL,
  create_us INTEGER NOT NULL,
  finished_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_done_at ON jobs_done(finished_us);
)sql";

// A data dir from before jobs_done: its finished jobs move there once (in
// one transaction), with when they finished (their due_us then), and the
// index that found them among the live ones goes.
constexpr const char* kMoveFinished = R"sql(
BEGIN IMMEDIATE;
INSERT INTO jobs_done(id, kind, key, state, run_at_us, attempts, payload, last_error, token, create_us, finished_us)
  SELECT id, kind, key, state, run_at_us, attempts, payload, last_error, token, create_us, due_us
  FROM jobs WHERE state >= 2;
DELETE FROM jobs WHERE state >= 2;
DROP INDEX IF EXISTS jobs_finished;
COMMIT;
)sql";

// The key index of de-duplicating jobs, in place of the one of every keyed
// job (jobs_key); the queries that walk it repeat its WHERE.
constexpr const char* kDedupeIndex = R"sql(
BEGIN IMMEDIATE;
DROP INDEX IF EXISTS jobs_key;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_key_dedupe ON jobs(kind, key) WHERE state < 2 AND key <> '' AND dedupe = 1;
COMMIT;
)sql";

// The columns of kColumns, read from jobs_done (a finished job holds no
// lease).
constexpr const char* kDoneColumns =
    "id, kind, key, state, run_at_us, attempts, payload, last_error, '', token, 0";

// The head of every statement that moves rows of `jobs` to jobs_done.
constexpr const char* kInsertDone =
    "INSERT INTO jobs_done(id, kind, key, state, run_at_us, attempts, payload, last_error, token, create_us, "
    "finished_us) ";

// Moves the RUNNING job ?1 held by (?2, ?3) to jobs_done as state ?4 (DONE
// drops the payload, FAILED sets last_error to ?5), finished at ?6.
constexpr const char* kFinishSelect =
    "SELECT id, kind, key, ?4, run_at_us, attempts, CASE WHEN ?4=2 THEN x'' ELSE payload END, "
    "CASE WHEN ?4=3 THEN ?5 ELSE last_error END, token, create_us, ?6 "
    "FROM jobs WHERE id=?1 AND state=1 AND owner=?2 AND token=?3";

constexpr const char* kColumns =
    "id, kind, key, state, run_at_us, attempts, payload, last_error, owner, token, lease_until_us";

Job ReadJob(Use& u) {
  Job j;
  j.id = u.ColInt(0);
  j.kind = u.Col(1);
  j.key = u.Col(2);
  j.state = static_cast<JobState>(u.ColInt(3));
  j.run_at_us = u.ColInt(4);
  j.attempts = static_cast<int>(u.ColInt(5));
  j.payload = u.Col(6);
  j.last_error = u.Col(7);
  j.lease.job_id = j.id;
  j.lease.owner = u.Col(8);
  j.lease.token = u.ColInt(9);
  j.lease.expires_us = u.ColInt(10);
  return j;
}

}  // namespace

absl::Status JobTable::Open(sqlite3* writer, bool keep_done) {
  db_ = writer;
  keep_done_ = keep_done;
  RETURN_IF_ERROR(Exec(db_, kSchema, "schema (jobs)"));
  RETURN_IF_ERROR(MoveFinished());
  RETURN_IF_ERROR(AddDedupe());
  RETURN_IF_ERROR(insert_.Prepare(
      db_, "INSERT INTO jobs(kind, key, state, run_at_us, due_us, attempts, payload, owner, token, lease_until_us, "
           "create_us, dedupe) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12) ON CONFLICT DO NOTHING"));
  RETURN_IF_ERROR(heartbeat_.Prepare(
      db_, "UPDATE jobs SET lease_until_us=?1, due_us=?1 WHERE id=?2 AND state=1 AND owner=?3 AND token=?4"));
  RETURN_IF_ERROR(checkpoint_.Prepare(
      db_, "UPDATE jobs SET lease_until_us=?1, due_us=?1, payload=?5 "
           "WHERE id=?2 AND state=1 AND owner=?3 AND token=?4"));
  RETURN_IF_ERROR(finish_.Prepare(db_, absl::StrCat(kInsertDone, kFinishSelect).c_str()));
  RETURN_IF_ERROR(remove_.Prepare(db_, "DELETE FROM jobs WHERE id=?1"));
  RETURN_IF_ERROR(complete_held_.Prepare(db_, "DELETE FROM jobs WHERE id=?1 AND state=1 AND owner=?2 AND token=?3"));
  RETURN_IF_ERROR(retry_.Prepare(
      db_, "UPDATE jobs SET state=0, owner='', lease_until_us=0, run_at_us=?1, due_us=?1, last_error=?2 "
           "WHERE id=?3 AND state=1 AND owner=?4 AND token=?5"));
  // The inner SELECT walks jobs_done_at.
  RETURN_IF_ERROR(prune_.Prepare(
      db_, "DELETE FROM jobs_done WHERE id IN (SELECT id FROM jobs_done WHERE finished_us<?1 "
           "ORDER BY finished_us LIMIT ?2)"));
  // The inner SELECT walks jobs_due (its WHERE repeats the index's).
  RETURN_IF_ERROR(claim_.Prepare(
      db_, absl::StrCat("UPDATE jobs SET state=1, owner=?1, token=token+1, attempts=attempts+1, lease_until_us=?2, "
                        "due_us=?2 WHERE id IN (SELECT id FROM jobs WHERE kind=?3 AND state < 2 AND due_us<=?4 "
                        "ORDER BY due_us, id LIMIT ?5) RETURNING ",
                        kColumns)
               .c_str()));
  RETURN_IF_ERROR(state_of_.Prepare(
      db_, "SELECT state, owner, token FROM jobs WHERE id=?1 UNION ALL SELECT state, '', token FROM jobs_done "
           "WHERE id=?1"));
  // Walks jobs_key_dedupe (its WHERE repeats the index's).
  RETURN_IF_ERROR(wake_.Prepare(
      db_, "UPDATE jobs SET state=0, owner='', lease_until_us=0, run_at_us=?3, due_us=?3 "
           "WHERE kind=?1 AND key=?2 AND state < 2 AND key <> '' AND dedupe = 1"));
  // As a fail does: FAILED, the lease gone, finished now (for the pruner).
  // Walks jobs_due (its WHERE repeats the index's).
  RETURN_IF_ERROR(cancel_move_.Prepare(
      db_, absl::StrCat(kInsertDone,
                        "SELECT id, kind, key, 3, run_at_us, attempts, payload, ?2, token, create_us, ?3 "
                        "FROM jobs WHERE kind=?1 AND state < 2")
               .c_str()));
  RETURN_IF_ERROR(cancel_remove_.Prepare(db_, "DELETE FROM jobs WHERE kind=?1 AND state < 2"));
  RETURN_IF_ERROR(Exec(db_, "UPDATE jobs SET state=0, owner='', lease_until_us=0, due_us=run_at_us WHERE state=1",
                       "releasing the leases of the last run"));
  if (int n = sqlite3_changes(db_); n > 0) {
    log::Info("store: jobs that were running when the last run ended are ready again", {{"jobs", n}});
  }
  return absl::OkStatus();
}

absl::Status JobTable::MoveFinished() {
  ASSIGN_OR_RETURN(bool moved, MigrateOnce(db_, "index", "jobs_finished", kMoveFinished,
                                           "moving finished jobs to jobs_done"));
  if (moved) log::Info("store: finished jobs moved to their own table (jobs_done)");
  return absl::OkStatus();
}

absl::Status JobTable::AddDedupe() {
  bool has_column = false;
  {
    Stmt column;
    RETURN_IF_ERROR(column.Prepare(db_, "SELECT 1 FROM pragma_table_info('jobs') WHERE name='dedupe'"));
    Use u(column);
    int rc = u.Step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(db_, "read the jobs table's columns");
    has_column = rc == SQLITE_ROW;
  }
  if (!has_column) {
    RETURN_IF_ERROR(Exec(db_, "ALTER TABLE jobs ADD COLUMN dedupe INTEGER NOT NULL DEFAULT 1",
                         "adding jobs.dedupe"));
    log::Info("store: jobs can now skip de-duplication (jobs.dedupe; every job already there de-duplicates)");
  }
  return Exec(db_, kDedupeIndex, "the key index of de-duplicating jobs");
}

void JobTable::Finalize() {
  for (Stmt* s : {&insert_, &heartbeat_, &checkpoint_, &finish_, &remove_, &complete_held_, &retry_, &claim_,
                  &state_of_, &prune_, &wake_, &cancel_move_, &cancel_remove_}) {
    s->Finalize();
  }
}

absl::StatusOr<JobLease> JobTable::Insert(const JobWrite& w, int64_t now_us, bool* wrote) {
  const bool claimed = !w.claim_owner.empty();
  const int64_t run_at = w.run_at_us > 0 ? w.run_at_us : now_us;
  JobLease lease;
  if (claimed) {
    lease.owner = w.claim_owner;
    lease.token = 1;
    lease.expires_us = now_us + w.lease_us;
  }
  {
    Use u(insert_);
    u.Text(1, w.kind).Text(2, w.key).Int(3, static_cast<int>(claimed ? JobState::kRunning : JobState::kReady));
    u.Int(4, run_at).Int(5, claimed ? lease.expires_us : run_at).Int(6, claimed ? 1 : 0).Blob(7, w.payload);
    u.Text(8, lease.owner).Int(9, lease.token).Int(10, lease.expires_us).Int(11, now_us);
    u.Int(12, w.deduplicate ? 1 : 0);
    if (u.Step() != SQLITE_DONE) return SqlError(db_, "enqueue job");
  }
  if (sqlite3_changes(db_) == 0) return JobLease{};  // de-duplicated: an unfinished job has the key
  *wrote = true;
  lease.job_id = sqlite3_last_insert_rowid(db_);
  return lease;
}

absl::Status JobTable::WhyRefused(const JobWrite& w) {
  Use u(state_of_);
  u.Int(1, w.lease.job_id);
  int rc = u.Step();
  if (rc == SQLITE_DONE) return NoSuchJob(w, keep_done_);
  if (rc != SQLITE_ROW) return SqlError(db_, "read job");
  auto state = static_cast<JobState>(u.ColInt(0));
  if (state != JobState::kRunning) return LeaseLost(w, absl::StrCat("is ", JobStateName(state)));
  return LeaseLost(w, absl::StrCat("was claimed again (owner ", u.ColText(1), ", token ", u.ColInt(2), ")"));
}

absl::StatusOr<JobLease> JobTable::Apply(const JobWrite& w, int64_t now_us, bool* wrote) {
  RETURN_IF_ERROR(ValidateJobWrite(w));
  if (w.op == JobWrite::Op::kEnqueue) return Insert(w, now_us, wrote);
  if (w.op == JobWrite::Op::kWake) {
    // Whoever holds it: the holder's next write finds owner '' and is
    // refused; the token stays, and the next claim bumps it.
    Use u(wake_);
    u.Text(1, w.kind).Text(2, w.key).Int(3, now_us);
    if (u.Step() != SQLITE_DONE) return SqlError(db_, "wake job");
    if (sqlite3_changes(db_) > 0) *wrote = true;
    return JobLease{};
  }
  if (w.op == JobWrite::Op::kCancelAll) {
    // Whoever holds them: a holder's next write finds FAILED and is refused.
    {
      Use u(cancel_move_);
      u.Text(1, w.kind).Text(2, w.error).Int(3, now_us);
      if (u.Step() != SQLITE_DONE) return SqlError(db_, "cancel jobs");
    }
    if (sqlite3_changes(db_) == 0) return JobLease{};
    Use u(cancel_remove_);
    u.Text(1, w.kind);
    if (u.Step() != SQLITE_DONE) return SqlError(db_, "cancel jobs");
    *wrote = true;
    return JobLease{};
  }
  JobLease out = w.lease;
  const char* what = "";
  {
    std::optional<Use> u;
    switch (w.op) {
      case JobWrite::Op::kHeartbeat:
        out.expires_us = now_us + w.lease_us;
        u.emplace(heartbeat_);
        u->Int(1, out.expires_us).Int(2, w.lease.job_id).Text(3, w.lease.owner).Int(4, w.lease.token);
        what = "heartbeat job";
        break;
      case JobWrite::Op::kCheckpoint:
        out.expires_us = now_us + w.lease_us;
        u.emplace(checkpoint_);
        u->Int(1, out.expires_us).Int(2, w.lease.job_id).Text(3, w.lease.owner).Int(4, w.lease.token);
        u->Blob(5, w.payload);
        what = "checkpoint job";
        break;
      case JobWrite::Op::kComplete:
        if (!keep_done_) {
          u.emplace(complete_held_);
          u->Int(1, w.lease.job_id).Text(2, w.lease.owner).Int(3, w.lease.token);
          what = "complete job";
          break;
        }
        [[fallthrough]];
      case JobWrite::Op::kFail: {
        const bool done = w.op == JobWrite::Op::kComplete;
        u.emplace(finish_);
        u->Int(1, w.lease.job_id).Text(2, w.lease.owner).Int(3, w.lease.token);
        u->Int(4, static_cast<int>(done ? JobState::kDone : JobState::kFailed)).Text(5, w.error).Int(6, now_us);
        what = done ? "complete job" : "fail job";
        break;
      }
      case JobWrite::Op::kRetry: {
        int64_t run_at = w.run_at_us > 0 ? w.run_at_us : now_us;
        u.emplace(retry_);
        u->Int(1, run_at).Text(2, w.error).Int(3, w.lease.job_id).Text(4, w.lease.owner).Int(5, w.lease.token);
        what = "retry job";
        break;
      }
      case JobWrite::Op::kEnqueue:
      case JobWrite::Op::kWake:
      case JobWrite::Op::kCancelAll: break;
    }
    if (u->Step() != SQLITE_DONE) return SqlError(db_, what);
  }
  if (sqlite3_changes(db_) == 0) return WhyRefused(w);
  *wrote = true;
  if ((w.op == JobWrite::Op::kComplete && keep_done_) || w.op == JobWrite::Op::kFail) {
    // Moved: the row leaves the live table.
    Use u(remove_);
    u.Int(1, w.lease.job_id);
    if (u.Step() != SQLITE_DONE) return SqlError(db_, "remove finished job");
  }
  return out;
}

absl::Status JobTable::Claim(const std::string& kind, const std::string& owner, int n, int64_t now_us,
                             int64_t lease_us, std::vector<Job>* out) {
  size_t first = out->size();
  {
    Use u(claim_);
    u.Text(1, owner).Int(2, now_us + lease_us).Text(3, kind).Int(4, now_us).Int(5, n);
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) out->push_back(ReadJob(u));
    if (rc != SQLITE_DONE) return SqlError(db_, "claim jobs");
  }
  // RETURNING gives rows in no set order.
  std::sort(out->begin() + static_cast<std::ptrdiff_t>(first), out->end(), [](const Job& a, const Job& b) {
    return a.run_at_us != b.run_at_us ? a.run_at_us < b.run_at_us : a.id < b.id;
  });
  return absl::OkStatus();
}

absl::StatusOr<int> JobTable::Prune(int64_t finished_before_us, int n) {
  {
    Use u(prune_);
    u.Int(1, finished_before_us).Int(2, n);
    if (u.Step() != SQLITE_DONE) return SqlError(db_, "prune jobs");
  }
  return sqlite3_changes(db_);
}

absl::StatusOr<int> JobTable::ReleaseOwnedBy(const std::string& owner_prefix) {
  Stmt release;
  RETURN_IF_ERROR(release.Prepare(db_,
                                  "UPDATE jobs SET state=0, owner='', lease_until_us=0, due_us=run_at_us "
                                  "WHERE state=1 AND substr(owner, 1, length(?1))=?1"));
  {
    Use u(release);
    u.Text(1, owner_prefix);
    if (u.Step() != SQLITE_DONE) return SqlError(db_, "release jobs");
  }
  int changed = sqlite3_changes(db_);
  release.Finalize();
  return changed;
}

absl::Status JobTable::PrepareGet(sqlite3* db, Stmt* get) {
  return get->Prepare(
      db, absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE id=?1 UNION ALL SELECT ", kDoneColumns,
                       " FROM jobs_done WHERE id=?1")
              .c_str());
}

absl::Status JobTable::PrepareCount(sqlite3* db, Stmt* count) {
  return count->Prepare(db, "SELECT COUNT(*) FROM jobs WHERE kind=?1 AND state < 2");
}

absl::StatusOr<int64_t> JobTable::CountUnfinished(sqlite3* db, Stmt& count, const std::string& kind) {
  Use u(count);
  u.Text(1, kind);
  if (u.Step() != SQLITE_ROW) return SqlError(db, "count jobs");
  return u.ColInt(0);
}

void JobTable::CountStmts::Finalize() {
  for (Stmt* s : {&exact, &range, &from}) s->Finalize();
}

absl::Status JobTable::PrepareCountByState(sqlite3* db, CountStmts* stmts) {
  // Each walks jobs_due (their WHERE repeats the index's): a prefix is a
  // range of it.
  RETURN_IF_ERROR(
      stmts->exact.Prepare(db, "SELECT state, COUNT(*) FROM jobs WHERE kind=?1 AND state < 2 GROUP BY state"));
  RETURN_IF_ERROR(stmts->range.Prepare(
      db, "SELECT state, COUNT(*) FROM jobs WHERE kind>=?1 AND kind<?2 AND state < 2 GROUP BY state"));
  return stmts->from.Prepare(db, "SELECT state, COUNT(*) FROM jobs WHERE kind>=?1 AND state < 2 GROUP BY state");
}

absl::StatusOr<JobQueue::Counts> JobTable::CountByState(sqlite3* db, CountStmts& stmts, const std::string& kind,
                                                        bool prefix) {
  const std::optional<std::string> end = prefix ? PrefixEnd(kind) : std::nullopt;
  Use u(!prefix ? stmts.exact : end ? stmts.range : stmts.from);
  u.Text(1, kind);
  if (end) u.Text(2, *end);
  JobQueue::Counts counts;
  int rc;
  while ((rc = u.Step()) == SQLITE_ROW) {
    (static_cast<JobState>(u.ColInt(0)) == JobState::kRunning ? counts.running : counts.ready) = u.ColInt(1);
  }
  if (rc != SQLITE_DONE) return SqlError(db, "count jobs by state");
  return counts;
}

absl::Status JobTable::PrepareFind(sqlite3* db, Stmt* find) {
  // Walks jobs_key_dedupe (its WHERE repeats the index's).
  return find->Prepare(
      db, absl::StrCat("SELECT ", kColumns,
                       " FROM jobs WHERE kind=?1 AND key=?2 AND state < 2 AND key <> '' AND dedupe = 1")
              .c_str());
}

absl::StatusOr<std::optional<Job>> JobTable::FindUnfinished(sqlite3* db, Stmt& find, const std::string& kind,
                                                            const std::string& key) {
  Use u(find);
  u.Text(1, kind).Text(2, key);
  int rc = u.Step();
  if (rc == SQLITE_DONE) return std::optional<Job>();
  if (rc != SQLITE_ROW) return SqlError(db, "find job");
  return std::optional<Job>(ReadJob(u));
}

absl::StatusOr<std::optional<Job>> JobTable::Get(sqlite3* db, Stmt& get, int64_t id) {
  Use u(get);
  u.Int(1, id);
  int rc = u.Step();
  if (rc == SQLITE_DONE) return std::optional<Job>();
  if (rc != SQLITE_ROW) return SqlError(db, "get job");
  return std::optional<Job>(ReadJob(u));
}

}  // namespace switchboard::core::sqlite
