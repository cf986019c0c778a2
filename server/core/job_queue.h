#pragma once
// The seam for durable background work (job.h): every kind of it (media
// operations and webhook deliveries today) is a job of one JobQueue. The
// store that keeps the state a job belongs to keeps its jobs too, so that a
// job is enqueued and finished in the same transaction as that state:
// Store::jobs() is the queue, and Mutation::jobs carries writes (store.h).
// SQLite implements it in sqlite_store.cc (job_sqlite.cc); a PostgreSQL
// store adds a second implementation, with claims leased across processes.
// The conformance suite is tests/core/job_queue_test.cc.
//
// Nothing here blocks on I/O except GetJob, CountUnfinished, CountByState
// and FindUnfinished (reads, like Store::GetResource): every other call
// answers through `done`, on the store's completion thread, once what it
// wrote is durable. Never block in `done`.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/job.h"

namespace switchboard::core {

class JobQueue {
 public:
  using ClaimDone = std::function<void(absl::StatusOr<std::vector<Job>>)>;
  // The written job's lease (see CommitResult::jobs in store.h).
  using WriteDone = std::function<void(absl::StatusOr<JobLease>)>;
  using Done = std::function<void(absl::Status)>;
  // How many jobs a Prune deleted.
  using PruneDone = std::function<void(absl::StatusOr<int>)>;

  virtual ~JobQueue() = default;

  // Claims up to `n` due jobs of `kind` for `owner`: READY ones whose
  // run_at has come, and RUNNING ones whose lease has expired; the earliest
  // due first. Each claim adds one to the job's attempts and token, and
  // leases it to `owner` for `lease` from the commit. Claims are serialized
  // with every write: two claims never get the same job unless its lease
  // expired in between. INVALID_ARGUMENT naming the argument for an empty
  // kind or owner, n < 1 or a lease that is not positive.
  virtual void Claim(std::string kind, std::string owner, int n, absl::Duration lease, ClaimDone done) = 0;

  // Applies one write in a transaction of its own. A write that belongs to
  // other state goes in that state's Mutation instead (Mutation::jobs).
  // FAILED_PRECONDITION "lease lost" when a heartbeat, complete, retry_at or
  // fail names a lease that was taken over (nothing is written); NOT_FOUND
  // for a job that does not exist.
  virtual void Write(JobWrite write, WriteDone done) = 0;

  // The job as committed, or nullopt.
  virtual absl::StatusOr<std::optional<Job>> GetJob(int64_t id) = 0;

  // Unfinished (READY or RUNNING) jobs of `kind`, as committed.
  virtual absl::StatusOr<int64_t> CountUnfinished(const std::string& kind) = 0;

  // Unfinished jobs by state, as committed: of `kind`, or with `prefix`,
  // of every kind that starts with it.
  struct Counts {
    int64_t ready = 0;
    int64_t running = 0;
  };
  virtual absl::StatusOr<Counts> CountByState(const std::string& kind, bool prefix = false) = 0;

  // The unfinished (READY or RUNNING) job of `kind` with `key` (keys are
  // unique per kind among unfinished jobs), as committed, or nullopt: for a
  // caller that knows a long-lived job by its key alone and needs its id
  // and lease (a cursor's lease, server/cursors). INVALID_ARGUMENT for an
  // empty kind or key.
  virtual absl::StatusOr<std::optional<Job>> FindUnfinished(const std::string& kind, const std::string& key) = 0;

  // Deletes at most `n` finished jobs (DONE or FAILED, of any kind) that
  // finished before `finished_before`, the longest finished first, in one
  // short write serialized with every other; `done` gets how many went.
  // READY and RUNNING jobs are never deleted, however old. Pruning a lot
  // is many calls (JobPruner, job_pruner.h), so that no single write holds
  // the store's writer for long. A pruned job's id is never given again.
  // INVALID_ARGUMENT for n < 1.
  virtual void Prune(absl::Time finished_before, int n, PruneDone done) = 0;

  // Makes every RUNNING job whose lease owner starts with `owner_prefix`
  // READY again at once (its run_at, attempts and token kept; the next claim
  // takes the next token), in one write serialized with every other; `done`
  // gets how many. For a replica restarted on its data dir: it holds the
  // dir's lock, so every lease its instance ("<instance>/...") still holds
  // is a dead predecessor's (data_dir_lock.h). Their writes are refused from
  // here on ("lease lost"). INVALID_ARGUMENT for an empty prefix.
  virtual void ReleaseOwnedBy(std::string owner_prefix, PruneDone done) = 0;

  // Conveniences over Write (job.h says what each does).
  void Enqueue(std::string kind, std::string key, std::string payload, absl::Time run_at, WriteDone done) {
    Write(JobWrite::Enqueue(std::move(kind), std::move(key), std::move(payload), run_at), std::move(done));
  }
  void Heartbeat(const JobLease& held, absl::Duration lease, WriteDone done) {
    Write(JobWrite::Heartbeat(held, lease), std::move(done));
  }
  void Checkpoint(const JobLease& held, std::string payload, absl::Duration lease, WriteDone done) {
    Write(JobWrite::Checkpoint(held, std::move(payload), lease), std::move(done));
  }
  void Complete(const JobLease& held, Done done) { Write(JobWrite::Complete(held), StatusOnly(std::move(done))); }
  void RetryAt(const JobLease& held, absl::Time when, std::string error, Done done) {
    Write(JobWrite::RetryAt(held, when, std::move(error)), StatusOnly(std::move(done)));
  }
  void Fail(const JobLease& held, std::string error, Done done) {
    Write(JobWrite::Fail(held, std::move(error)), StatusOnly(std::move(done)));
  }

 private:
  static WriteDone StatusOnly(Done done) {
    return [done = std::move(done)](absl::StatusOr<JobLease> r) { done(r.status()); };
  }
};

}  // namespace switchboard::core
