#pragma once
// Deletes finished jobs (DONE, FAILED) once they are older than the
// retention (config key job_retention_seconds), so the jobs table holds
// the unfinished work and a recent past, not every job ever run. Each
// round, every `interval`, prunes in batches of `batch` jobs
// (JobQueue::Prune): each batch is one short write that joins the store's
// writer queue like any commit, so pruning a backlog never holds the writer
// for long. A round goes on while full batches come back. With replicas,
// only the leader's pruner runs its rounds (Options::active).
//
// The rounds run on a thread of the pruner's own until the engines move to
// core::Executor's timers.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/job_queue.h"

namespace switchboard::core {

class JobPruner {
 public:
  struct Options {
    // A finished job is kept at least this long after it finished.
    absl::Duration retention = absl::Hours(1);
    absl::Duration interval = absl::Minutes(1);
    // Jobs deleted per write.
    int batch = 500;
    // Whether this process prunes now (a round is skipped while it says no):
    // with replicas, only the leader does (core::Leadership). Unset: always.
    std::function<bool()> active;
  };

  JobPruner(JobQueue* queue, Options options);
  ~JobPruner();
  JobPruner(const JobPruner&) = delete;
  JobPruner& operator=(const JobPruner&) = delete;

  // Starts the rounds (the first one after `interval`).
  void Start();
  // One round now, on the calling thread (blocks until it is done): the
  // number of jobs deleted. After Stop, at most the batch under way.
  absl::StatusOr<int64_t> PruneNow();
  // Ends the rounds, waiting for one under way to end after its current
  // batch. Idempotent.
  void Stop();

 private:
  void Loop();
  // One batch; blocks until it is committed.
  absl::StatusOr<int> PruneBatch(absl::Time before);

  JobQueue* queue_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace switchboard::core
