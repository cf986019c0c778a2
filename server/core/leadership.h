#pragma once
// Which replica leads: the holder of the lease of one job (kind
// "switchboard.leader", key "leader") of the store's JobQueue. Work that
// must run in one place at a time across replicas (resourcing runs, the
// status bridge's cursor: docs/scale-out.md) is claimed only while leading.
//
// The job is enqueued once (its key de-duplicates every replica's enqueue)
// and never finishes. A replica that is not leading tries to claim it on
// every tick; the leader heartbeats it. The claim's fencing token is the
// leader's *term*: it grows with every change of leader, and a leader that
// stalled past its lease (SIGSTOP, a long pause) finds its next heartbeat
// refused ("lease lost") and steps down; the lease of every job it held is
// checked the same way on its own. Stop hands the lease back at once
// (retry_at now), so a clean shutdown fails over without waiting for the
// lease to run out. With one process (SQLite) that process always leads.
//
// Ticks run on a core::Ticker (a tick while a call is out does nothing); the
// queue's answers come on the store's completion thread and only update
// state under a mutex.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "server/core/executor.h"
#include "server/core/job.h"
#include "server/core/job_queue.h"
#include "server/core/ticker.h"

namespace switchboard::core {

class Leadership {
 public:
  static constexpr char kKind[] = "switchboard.leader";
  static constexpr char kKey[] = "leader";

  struct Options {
    // This replica's id (NewReplicaId).
    std::string owner;
    // How long a leader stays leader without a heartbeat.
    absl::Duration lease = absl::Seconds(10);
    // How often the leader heartbeats, and a follower tries to claim.
    absl::Duration tick = absl::Seconds(2);
  };
  // Called when this replica starts leading (true, with its term) and when
  // it stops (false, with the term it had), on a pool thread or the store's
  // completion thread: hand work off, never block.
  using OnChange = std::function<void(bool leading, int64_t term)>;

  Leadership(JobQueue* queue, Pool* pool, Options options, OnChange on_change);
  ~Leadership();
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  // Enqueues the leader job (a no-op when it exists) and starts the ticks.
  void Start();
  // Stops the ticks and hands the lease back if held (on_change(false)).
  // Waits for the hand-back to commit. Idempotent.
  void Stop();

  bool leading() const;
  // The term while leading; 0 otherwise.
  int64_t term() const;
  const std::string& owner() const { return options_.owner; }

 private:
  void Tick();
  // Claims the leader job when not leading, heartbeats it when leading.
  void ClaimOrRenew(std::optional<JobLease> held);
  // One claim or heartbeat answered: `now` is the lease held from here on.
  void Finished(std::optional<JobLease> now);

  JobQueue* queue_;
  const Options options_;
  OnChange on_change_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<JobLease> held_;
  bool stopping_ = false;
  // The leader job was enqueued (by this replica or found de-duplicated).
  bool enqueued_ = false;
  // A call to the queue is out.
  bool in_flight_ = false;
  // Declared last: stopped first, before the state its ticks use.
  Ticker ticker_;
};

}  // namespace switchboard::core
