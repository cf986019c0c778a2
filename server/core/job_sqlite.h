#pragma once
// The jobs tables of the SQLite store (job.h, job_queue.h): their schema and
// the statements the store's writer runs inside its transactions. The
// store (sqlite_store.cc) owns the connections and the transactions; this
// file owns the SQL.

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/job.h"
#include "server/core/job_queue.h"
#include "server/core/sqlite_stmt.h"

namespace switchboard::core::sqlite {

class JobTable {
 public:
  // Creates the table and its indexes when missing (a data dir from before
  // jobs opens as it is) and prepares the writer's statements on `writer`.
  // Every RUNNING job becomes READY: one process opens the file at a time
  // (SqliteOptions), so whoever held those leases is gone. Without
  // `keep_done`, a completed job is deleted instead of moved to jobs_done.
  absl::Status Open(sqlite3* writer, bool keep_done = true);
  void Finalize();

  // Inside the writer's open transaction, at `now_us`. Sets `*wrote` once
  // a row changed; a refusal (INVALID_ARGUMENT, NOT_FOUND, "lease lost")
  // changes nothing.
  absl::StatusOr<JobLease> Apply(const JobWrite& w, int64_t now_us, bool* wrote);
  // Inside the writer's open transaction; appends the claimed jobs to `out`.
  absl::Status Claim(const std::string& kind, const std::string& owner, int n, int64_t now_us, int64_t lease_us,
                     std::vector<Job>* out);

  // Inside the writer's open transaction: deletes at most `n` jobs that
  // finished before `finished_before_us`, the longest finished first, and
  // returns how many.
  absl::StatusOr<int> Prune(int64_t finished_before_us, int n);
  // Inside the writer's open transaction: makes the RUNNING jobs whose owner
  // starts with `owner_prefix` READY; returns how many.
  absl::StatusOr<int> ReleaseOwnedBy(const std::string& owner_prefix);

  // For a read connection: prepares `get`, then reads one job with it.
  static absl::Status PrepareGet(sqlite3* db, Stmt* get);
  static absl::StatusOr<std::optional<Job>> Get(sqlite3* db, Stmt& get, int64_t id);
  // For a read connection: prepares `count`, then counts the unfinished
  // jobs of `kind` with it.
  static absl::Status PrepareCount(sqlite3* db, Stmt* count);
  static absl::StatusOr<int64_t> CountUnfinished(sqlite3* db, Stmt& count, const std::string& kind);
  // For a read connection: the statements of CountByState (an exact kind,
  // a kind prefix with an upper bound, one without), prepared once.
  struct CountStmts {
    Stmt exact, range, from;
    void Finalize();
  };
  static absl::Status PrepareCountByState(sqlite3* db, CountStmts* stmts);
  static absl::StatusOr<JobQueue::Counts> CountByState(sqlite3* db, CountStmts& stmts, const std::string& kind,
                                                       bool prefix);
  // For a read connection: prepares `find`, then reads the unfinished job
  // of `kind` with `key` with it.
  static absl::Status PrepareFind(sqlite3* db, Stmt* find);
  static absl::StatusOr<std::optional<Job>> FindUnfinished(sqlite3* db, Stmt& find, const std::string& kind,
                                                           const std::string& key);

 private:
  absl::StatusOr<JobLease> Insert(const JobWrite& w, int64_t now_us, bool* wrote);
  // Why a lease write changed no row: NOT_FOUND or "lease lost".
  absl::Status WhyRefused(const JobWrite& w);

  sqlite3* db_ = nullptr;
  bool keep_done_ = true;
  // A data dir from before jobs_done: moves its finished jobs there.
  absl::Status MoveFinished();
  // A data dir from before jobs.dedupe: adds the column; and the key index
  // of de-duplicating jobs in place of jobs_key.
  absl::Status AddDedupe();

  // complete_held_ deletes a completed job (without keep_done).
  Stmt insert_, heartbeat_, checkpoint_, finish_, remove_, complete_held_, retry_, claim_, state_of_, prune_, wake_,
      cancel_move_, cancel_remove_;
};

}  // namespace switchboard::core::sqlite
