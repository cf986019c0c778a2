#pragma once
// The jobs table of the PostgreSQL store (job.h, job_queue.h): its schema
// and the statements run inside the store's transactions. The store
// (pg_store.cc) owns the connections and the transactions; this file owns
// the SQL. Unlike SQLite's (job_sqlite.h), opening the table releases no
// lease: other replicas hold theirs while they live, and an expired lease
// is simply claimable.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/job.h"
#include "server/core/job_queue.h"
#include "server/core/pg_conn.h"

namespace switchboard::core::pg {

// The table and its indexes, made if missing (part of the store's schema
// script, pg_schema.cc).
extern const char* const kJobSchema;

// Inside an open transaction on `c`, at `now_us`. A refusal
// (INVALID_ARGUMENT, NOT_FOUND, "lease lost") changes nothing; UNAVAILABLE
// is a failed statement, after which the transaction is lost. Without
// `keep_done` a completed job is deleted instead of kept as DONE.
absl::StatusOr<JobLease> ApplyJobWrite(Conn& c, const JobWrite& w, int64_t now_us, bool keep_done = true);

// Inside an open transaction: leases up to `n` due jobs of `kind` to
// `owner` (rows other transactions hold are skipped, never waited for) and
// appends them to `out`, earliest due first.
absl::Status ClaimJobs(Conn& c, const std::string& kind, const std::string& owner, int n, int64_t now_us,
                       int64_t lease_us, std::vector<Job>* out);

// Deletes at most `n` jobs that finished before `finished_before_us`, the
// longest finished first; returns how many.
absl::StatusOr<int> PruneJobs(Conn& c, int64_t finished_before_us, int n);
// Makes the RUNNING jobs whose owner starts with `owner_prefix` READY.
absl::StatusOr<int> ReleaseJobsOwnedBy(Conn& c, const std::string& owner_prefix);

absl::StatusOr<std::optional<Job>> GetJob(Conn& c, int64_t id);
absl::StatusOr<int64_t> CountUnfinishedJobs(Conn& c, const std::string& kind);
// JobQueue::CountByState: of `kind`, or of every kind starting with it.
absl::StatusOr<JobQueue::Counts> CountJobsByState(Conn& c, const std::string& kind, bool prefix);
absl::StatusOr<std::optional<Job>> FindUnfinishedJob(Conn& c, const std::string& kind, const std::string& key);

}  // namespace switchboard::core::pg
