#pragma once
// A durable job: one piece of background work (a media operation to run, a
// delivery to attempt) that must survive a crash. Jobs live in the store,
// and are written in the same transaction as the state they belong to
// (Mutation::jobs, store.h); job_queue.h claims them.
//
// Life of a job:
//
//   enqueue ──> READY ──claim──> RUNNING ──complete──> DONE
//                 ^                │  │
//                 └──retry_at──────┘  └──fail──> FAILED
//                 (or its lease expires: claimable again)
//
// While RUNNING, its holder may heartbeat (extend the lease) or checkpoint
// (extend the lease and replace the payload: a long-lived job, such as the
// status bridge's cursor, records its progress in the job itself).
//
// A claim gives its holder a lease: the owner (a replica, i.e. a process
// start), an expiry, and a fencing token that grows with every claim of the
// job. Every later write of the holder (heartbeat, complete, retry_at,
// fail) names owner and token, and is refused with FAILED_PRECONDITION
// "lease lost" when the job was claimed again since (by anyone, this owner
// included): a holder that stalled past its lease cannot overwrite the work
// of the one that took over. An expired lease that nobody took over is still
// good: its holder may heartbeat or finish.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::core {

// The numbers are stored; never renumber.
enum class JobState : int { kReady = 0, kRunning = 1, kDone = 2, kFailed = 3 };
absl::string_view JobStateName(JobState state);

// Who holds a running job, with which claim, until when.
struct JobLease {
  int64_t job_id = 0;
  // The holder: a replica id (NewReplicaId), one per process start.
  std::string owner;
  // Fencing token: 1 for the job's first claim, +1 for each claim after.
  int64_t token = 0;
  // Unix microseconds; after it the job is claimable again.
  int64_t expires_us = 0;
};

struct Job {
  int64_t id = 0;  // never reused
  std::string kind;
  // De-duplication: unique per kind among unfinished (READY, RUNNING) jobs.
  // Empty: no de-duplication.
  std::string key;
  JobState state = JobState::kReady;
  // Unix microseconds; not claimable before.
  int64_t run_at_us = 0;
  // Claims so far, the current one included.
  int attempts = 0;
  std::string payload;
  // The error of the last retry_at or fail.
  std::string last_error;
  // The current lease while RUNNING (owner empty otherwise); `token` stays
  // that of the last claim.
  JobLease lease;
};

// One write of a job, applied in the transaction of the Mutation that
// carries it. Build one with the functions below.
struct JobWrite {
  enum class Op { kEnqueue, kHeartbeat, kComplete, kRetry, kFail, kCheckpoint, kWake, kCancelAll };
  Op op = Op::kEnqueue;
  // kEnqueue, kWake: the job's kind and key; kCancelAll: the kind; kEnqueue, kCheckpoint: its
  // (new) payload.
  std::string kind, key, payload;
  // kEnqueue, kRetry: not claimable before (unix microseconds; 0: now).
  int64_t run_at_us = 0;
  // kEnqueue: when set, the job is claimed at once by this owner (RUNNING,
  // token 1; the enqueuer runs it now), and its lease comes back in
  // CommitResult::leases.
  std::string claim_owner;
  // kEnqueue with claim_owner, kHeartbeat, kCheckpoint: the lease's length
  // from the commit.
  int64_t lease_us = 0;
  // kHeartbeat, kCheckpoint, kComplete, kRetry, kFail: the holder's lease
  // (job_id, owner and token are checked).
  JobLease lease;
  // kRetry, kFail, kCancelAll.
  std::string error;
  // kEnqueue: false when the enqueuer knows no other unfinished job of
  // `kind` has `key` (a name it has just made, such as a new operation's):
  // the store then neither checks nor indexes the key, which saves a write
  // per job. Such a job is not de-duplicated, and FindUnfinished and Wake
  // do not see it; its holder still finds it by key (JobWorker).
  bool deduplicate = true;

  // A READY job. De-duplicated: when an unfinished job of `kind` has `key`,
  // nothing is enqueued (and the mutation still commits).
  static JobWrite Enqueue(std::string kind, std::string key, std::string payload,
                          absl::Time run_at = absl::InfinitePast());
  // Enqueued and claimed in one: the enqueuer holds it for `lease`. Set
  // `deduplicate` false on the result for a key known to be new.
  static JobWrite EnqueueClaimed(std::string kind, std::string key, std::string payload, std::string owner,
                                 absl::Duration lease);
  // Extends the lease to `lease` from the commit.
  static JobWrite Heartbeat(const JobLease& held, absl::Duration lease);
  // A heartbeat that also replaces the payload with `payload`: the holder's
  // progress, kept with the job (a later claim, by anyone, reads it), and
  // written in the same transaction as the work it stands for.
  static JobWrite Checkpoint(const JobLease& held, std::string payload, absl::Duration lease);
  // DONE. The payload is dropped (a finished job's row is kept until it is
  // pruned, but nothing reads its work again), so retained rows stay small.
  static JobWrite Complete(const JobLease& held);
  // READY again at `when`, remembering `error`.
  static JobWrite RetryAt(const JobLease& held, absl::Time when, std::string error);
  // FAILED for good, with `error`.
  static JobWrite Fail(const JobLease& held, std::string error);
  // The unfinished job of `kind` with `key`, READY now, whoever holds it:
  // for a write on one replica that changes what a job held by another
  // must do next (an approval, a report that ends a run). Its holder's
  // next write is refused ("lease lost") and the next claim, anywhere,
  // carries the job on. No unfinished job with the key: nothing changes
  // (and the mutation still commits).
  static JobWrite Wake(std::string kind, std::string key);
  // Every unfinished (READY or RUNNING) job of `kind` FAILED for good, with
  // `error`, whoever holds it (its holder's next write is refused: "lease
  // lost"): for the owner of a kind that is going away (a deleted bus
  // subscription's messages). Its entry in CommitResult::jobs has job_id 0.
  // None unfinished: nothing changes (and the mutation still commits).
  static JobWrite CancelAll(std::string kind, std::string error);
};

// INVALID_ARGUMENT naming the field for a write the store must refuse
// (an enqueue without a kind, a lease write without its lease).
absl::Status ValidateJobWrite(const JobWrite& w);

// The refusal of a write whose lease was taken over (or whose job is no
// longer RUNNING): FAILED_PRECONDITION, "lease lost" first.
absl::Status LeaseLost(const JobWrite& w, absl::string_view why);
// The refusal of a lease write whose job has no row: NOT_FOUND; without
// `keep_done` (job_retention_seconds 0, where a completed job is deleted),
// the refusal of a finished job's write (LeaseLost).
absl::Status NoSuchJob(const JobWrite& w, bool keep_done);

// A new owner id for this process start: "<host>/<pid>/<8 hex digits>".
std::string NewReplicaId();

}  // namespace switchboard::core
