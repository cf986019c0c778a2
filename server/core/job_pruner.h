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
// The rounds are timed by a core::Ticker on an executor pool and hold no
// thread: each batch's completion sends the next.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/job_queue.h"
#include "server/core/ticker.h"

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

  // `pool` times the rounds (the Server's "core" pool).
  JobPruner(JobQueue* queue, Pool* pool, Options options);
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
  // A timed round: its batches follow each other from their completions.
  void Round();
  void NextBatch(absl::Time before, int64_t total);
  void EndRound(const absl::Status& status, int64_t total);
  // One batch; blocks until it is committed.
  absl::StatusOr<int> PruneBatch(absl::Time before);

  JobQueue* queue_;
  Pool* pool_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool in_round_ = false;
  std::unique_ptr<Ticker> ticker_;
};

}  // namespace switchboard::core
