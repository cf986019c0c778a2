#pragma once
// Runs the jobs of one kind in this process (job_queue.h): claims the due
// ones, hands each to `run`, and keeps every lease it holds alive with
// heartbeats until the job's finishing write (complete, retry_at or fail,
// usually inside the Mutation that records the outcome) has committed and
// the engine Drops it. The part of running a job kind that is the same for
// every kind; the engine of the kind says what a job does.
//
// Claims happen at Start, on Poke, and on every tick; each asks for at most
// `room()` jobs (the engine's backpressure) and goes on while full batches
// come back. On each tick, every held lease past half its time gets a
// heartbeat; one that comes back "lease lost" is no longer renewed but kept
// as lost (Fence), so the late writes of its work are refused rather than
// unfenced (the job's new holder finishes it), until Drop. Leases are looked up by the job's key, so the jobs
// of a kind run here need non-empty keys, unique among unfinished jobs.
//
// The ticks run on a core::Ticker on Options::ticker_pool; or, without
// one, the owner calls Tick() (an engine that runs many workers, one per
// webhook, from one ticker of its own).

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "server/core/job.h"
#include "server/core/job_queue.h"
#include "server/core/ticker.h"

namespace switchboard::core {

class JobWorker {
 public:
  struct Options {
    std::string kind;
    // This replica's id (NewReplicaId): the owner of every lease taken here.
    std::string owner;
    absl::Duration lease = absl::Seconds(60);
    absl::Duration tick = absl::Seconds(15);
    // Most jobs one claim asks for.
    int claim_batch = 256;
    // The pool whose timers call Tick() every `tick` from Start; null: the
    // owner calls Tick().
    Pool* ticker_pool = nullptr;
  };
  // Gets each job claimed here, on the store's completion thread: hand the
  // work off, never block.
  using Run = std::function<void(Job job)>;
  // How many more jobs this process can take now.
  using Room = std::function<int()>;

  JobWorker(JobQueue* queue, Options options, Run run, Room room);
  ~JobWorker();
  JobWorker(const JobWorker&) = delete;
  JobWorker& operator=(const JobWorker&) = delete;

  const std::string& kind() const { return options_.kind; }
  const std::string& owner() const { return options_.owner; }
  absl::Duration lease() const { return options_.lease; }

  // Claims what is due now, then starts the ticks.
  void Start();
  // Claims now (a READY job was enqueued, or room freed up).
  void Poke();
  // One tick: renews the leases past half their time, then claims. For a
  // worker without a ticker of its own; never call it from `run`.
  void Tick();
  // Keeps `lease` alive from now on: a job this process holds by an enqueue
  // that claimed it (JobWrite::EnqueueClaimed). Claims made here are held
  // without this.
  void Hold(const std::string& key, const JobLease& lease);
  // The lease held here for the unfinished job with `key`, if any (a lost
  // one is not held).
  std::optional<JobLease> Held(const std::string& key) const;
  // The lease this process last held for `key`, lost or not: what a write
  // for that job must name, so that a holder whose lease was taken over is
  // refused ("lease lost") instead of writing unfenced.
  std::optional<JobLease> Fence(const std::string& key) const;
  // Stops renewing the lease with `token` for `key`, keeping it as lost (for
  // Fence): its work was abandoned (a write failed), so it expires and the
  // job runs again, here or elsewhere.
  void Abandon(const std::string& key, int64_t token);
  // Stops keeping the lease with `token` for `key` (its finishing write
  // committed, or failed: then the lease expires and the job runs again).
  void Drop(const std::string& key, int64_t token);
  size_t held_count() const;

  // Stops ticks and claims and waits for those in flight; `run` is not
  // called again. Leases still held stay with their jobs until they expire
  // (on SQLite, until the next open). Idempotent; never call it from `run`.
  void Stop();

 private:
  void ClaimNow();
  void Renew();
  void Finished();  // one call to the queue answered

  JobQueue* queue_;
  const Options options_;
  Run run_;
  Room room_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct HeldLease {
    JobLease lease;
    bool lost = false;  // taken over or abandoned: not renewed, still named by Fence
  };
  // Looked up three times per job (Hold, Fence, Drop): hashed, not ordered.
  absl::flat_hash_map<std::string, HeldLease> held_;
  bool started_ = false;
  bool stopping_ = false;
  bool claiming_ = false;
  bool claim_again_ = false;
  int in_flight_ = 0;
  std::unique_ptr<Ticker> ticker_;
};

}  // namespace switchboard::core
