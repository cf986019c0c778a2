#include "server/core/job.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/uuid.h"

namespace switchboard::core {

absl::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kReady: return "READY";
    case JobState::kRunning: return "RUNNING";
    case JobState::kDone: return "DONE";
    case JobState::kFailed: return "FAILED";
  }
  return "UNKNOWN";
}

namespace {
int64_t Micros(absl::Time t) { return t == absl::InfinitePast() ? 0 : absl::ToUnixMicros(t); }

// A write of the job that `held` leases (the other fields as JobWrite says
// for `op`).
JobWrite Leased(JobWrite::Op op, const JobLease& held, int64_t lease_us = 0, int64_t run_at_us = 0,
                std::string error = "") {
  JobWrite w;
  w.op = op;
  w.lease = held;
  w.lease_us = lease_us;
  w.run_at_us = run_at_us;
  w.error = std::move(error);
  return w;
}
}  // namespace

JobWrite JobWrite::Enqueue(std::string kind, std::string key, std::string payload, absl::Time run_at) {
  JobWrite w;
  w.op = Op::kEnqueue;
  w.kind = std::move(kind);
  w.key = std::move(key);
  w.payload = std::move(payload);
  w.run_at_us = Micros(run_at);
  return w;
}

JobWrite JobWrite::EnqueueClaimed(std::string kind, std::string key, std::string payload, std::string owner,
                                  absl::Duration lease) {
  JobWrite w = Enqueue(std::move(kind), std::move(key), std::move(payload));
  w.claim_owner = std::move(owner);
  w.lease_us = absl::ToInt64Microseconds(lease);
  return w;
}

JobWrite JobWrite::Heartbeat(const JobLease& held, absl::Duration lease) {
  return Leased(Op::kHeartbeat, held, absl::ToInt64Microseconds(lease));
}

JobWrite JobWrite::Checkpoint(const JobLease& held, std::string payload, absl::Duration lease) {
  JobWrite w = Heartbeat(held, lease);
  w.op = Op::kCheckpoint;
  w.payload = std::move(payload);
  return w;
}

JobWrite JobWrite::Complete(const JobLease& held) { return Leased(Op::kComplete, held); }

JobWrite JobWrite::RetryAt(const JobLease& held, absl::Time when, std::string error) {
  return Leased(Op::kRetry, held, 0, Micros(when), std::move(error));
}

JobWrite JobWrite::Fail(const JobLease& held, std::string error) {
  return Leased(Op::kFail, held, 0, 0, std::move(error));
}

JobWrite JobWrite::Wake(std::string kind, std::string key) {
  JobWrite w;
  w.op = Op::kWake;
  w.kind = std::move(kind);
  w.key = std::move(key);
  return w;
}

JobWrite JobWrite::CancelAll(std::string kind, std::string error) {
  JobWrite w;
  w.op = Op::kCancelAll;
  w.kind = std::move(kind);
  w.error = std::move(error);
  return w;
}

absl::Status ValidateJobWrite(const JobWrite& w) {
  if (w.op == JobWrite::Op::kCancelAll) {
    if (w.kind.empty()) {
      return absl::InvalidArgumentError("job kind is required to cancel jobs: the kind whose unfinished jobs fail");
    }
    return absl::OkStatus();
  }
  if (w.op == JobWrite::Op::kWake) {
    if (w.kind.empty()) return absl::InvalidArgumentError("job kind is required to wake a job, e.g. resourcing.run");
    if (w.key.empty()) return absl::InvalidArgumentError("job key is required to wake a job: the unfinished job's key");
    return absl::OkStatus();
  }
  if (w.op == JobWrite::Op::kEnqueue) {
    if (w.kind.empty()) return absl::InvalidArgumentError("job kind is required, e.g. media.operation");
    if (!w.claim_owner.empty() && w.lease_us <= 0) {
      return absl::InvalidArgumentError("job lease must be positive when the enqueue claims the job");
    }
    return absl::OkStatus();
  }
  if (w.lease.job_id <= 0) return absl::InvalidArgumentError("job lease.job_id is required: the id of the claimed job");
  if (w.lease.owner.empty()) return absl::InvalidArgumentError("job lease.owner is required: the claim's owner");
  if (w.lease.token <= 0) return absl::InvalidArgumentError("job lease.token is required: the claim's fencing token");
  if (w.op == JobWrite::Op::kHeartbeat && w.lease_us <= 0) {
    return absl::InvalidArgumentError("job heartbeat lease must be positive, e.g. 60 seconds");
  }
  if (w.op == JobWrite::Op::kCheckpoint && w.lease_us <= 0) {
    return absl::InvalidArgumentError("job checkpoint lease must be positive, e.g. 60 seconds");
  }
  return absl::OkStatus();
}

absl::Status LeaseLost(const JobWrite& w, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat("lease lost: job ", w.lease.job_id, " (owner ", w.lease.owner,
                                                    ", token ", w.lease.token, ") ", why,
                                                    "; nothing was written: the job's current holder records it"));
}

absl::Status NoSuchJob(const JobWrite& w, bool keep_done) {
  if (!keep_done) return LeaseLost(w, "is finished or does not exist (completed jobs are not kept)");
  return absl::NotFoundError(absl::StrCat("job ", w.lease.job_id, " does not exist"));
}

std::string NewReplicaId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] ? host : "localhost", "/", getpid(), "/",
                      absl::Hex(UniqueRandom64() & 0xffffffffu, absl::kZeroPad8));
}

}  // namespace switchboard::core
