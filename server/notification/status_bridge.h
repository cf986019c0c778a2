#pragma once
// Puts every resourcing, media and managed-app status change on the bus
// (routing keys in status_routes.h), so any subscription or webhook can
// follow the whole control plane.
//
// The bridge follows the global log from a cursor: the log sequence up to
// which every event has been bridged. The cursor is a durable job (kind
// status_bridge.cursor, key "cursor", payload the sequence in decimal;
// server/core/job_queue.h). Start claims it (enqueuing it the first time,
// with the position a data dir from before jobs kept in the resource
// "status_bridge/cursor", which goes in the same transaction), and the
// bridge holds its lease while it runs.
//
// Each bridged event is published (event_uuid "switchboard-event-<sequence>")
// with a checkpoint of the job to its sequence in the same transaction, so
// the durable cursor is never behind a published event nor ahead of an
// unpublished one: a restart, after kill -9 too, continues right after the
// last published event. Events nobody binds are passed by and saved now and
// then (and whenever the bridge is idle). Publishing is idempotent on the
// uuid besides, so the bus sees each status change exactly once.
//
// The lease is long (Options::lease) and renewed by every checkpoint, and
// by a heartbeat when idle. A bridge whose lease was taken over (issue 22:
// another replica leads) has every write refused ("lease lost"), so it
// writes nothing more, and stops.
//
// It has no thread of its own: it runs as a chain of steps on an executor
// pool (the keeper's, `core`). A step reads a batch from the log and
// publishes what it bridges; the last publish's commit posts the next step
// (its back-pressure: the next batch is read once this one is durable).
// Caught up, the chain parks in the EventHub, and a commit (or a 1 s timer
// behind it) posts the next step. One step runs at a time. Start waits for
// the claim (it runs at server start or on the keeper's tick; the answers
// come on the store's completion thread); Stop waits for the chain to end
// and the release to be durable, so it must not run on the bridge's pool
// (the keeper hands a bridge that lost its lease to a retired list instead,
// and frees it once it ended). Every cursor write is a CommitAsync.

#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/event_hub.h"
#include "server/core/executor.h"
#include "server/core/job.h"
#include "server/core/store.h"
#include "server/notification/bus_engine.h"

namespace switchboard::notification {

class StatusBridge {
 public:
  // The cursor's job.
  static constexpr char kJobKind[] = "status_bridge.cursor";
  static constexpr char kJobKey[] = "cursor";

  struct Options {
    // Events read and published per batch.
    int batch_size = 256;
    // Who holds the cursor's lease: this process start's replica id
    // (core::NewReplicaId()); one is made when empty.
    std::string owner;
    // The lease's length from each renewal.
    absl::Duration lease = absl::Seconds(60);
    // An idle bridge renews its lease this often (a busy one with every
    // batch); well under `lease`.
    absl::Duration heartbeat = absl::Seconds(20);
  };

  StatusBridge(core::Store* store, core::EventHub* hub, BusEngine* bus, Options options);
  ~StatusBridge();

  // Claims the cursor's job (enqueues it, migrating an old cursor, when
  // there is none), reads the cursor and starts the chain on `pool`.
  // FAILED_PRECONDITION when another owner holds an unexpired lease on it.
  absl::Status Start(core::Pool* pool);
  // Finishes the batch in flight, saves the cursor and releases the job
  // (READY again, for the next start or another replica); a bridge that
  // lost its lease writes nothing. Returns once the chain has ended; never
  // call it from a task of the bridge's pool.
  void Stop();
  // True once the chain has ended (stopped, or stopped itself on a lost
  // lease or a closing store); then Stop returns at once.
  bool ended() const;

  // Log sequence up to which every event has been bridged.
  int64_t cursor() const { return cursor_.load(); }
  // True once a write was refused because the lease was taken over; the
  // bridge has stopped (or is stopping) then.
  bool lease_lost() const;

 private:
  struct Shared;
  // Claims the job, or enqueues it claimed (with the migration).
  absl::StatusOr<core::Job> Acquire();
  // Posts the next step unless the chain is busy (then it steps again
  // after the busy step); the wakeup and the timer call it.
  void Kick();
  // Posts `task` to the pool (a full queue: in 100 ms).
  void Post(std::function<void()> task);
  // One step of the chain (on the pool).
  void Step();
  // Nothing to read now: parks in the hub (a commit or the 1 s timer
  // kicks), or steps again at once when kicked meanwhile.
  void Park();
  // Ends the step with nothing to do: waits for a kick or the 1 s timer,
  // or steps again at once when kicked meanwhile.
  void Idle();
  // After a batch's publishes are durable: moves the cursor and steps on.
  void AfterBatch(int64_t through, bool unapplied, bool closing);
  // Ends the chain: saves and releases the job (unless the lease was lost),
  // then marks it ended.
  void Finish();
  void MarkEnded();
  // Publishes the bridged events of the batch, in order, each with its
  // checkpoint; AfterBatch follows once all are durable.
  void PublishBatch(const core::EventBatch& batch);
  bool AnyStatusKeyWanted() const;
  // Saves the cursor when it is far enough ahead of the last save (or the
  // bridge is `idle`), or renews the lease when a heartbeat is due.
  void MaybeSave(bool idle);
  core::JobWrite CheckpointAt(int64_t sequence) const;

  core::Store* store_;
  core::EventHub* hub_;
  BusEngine* bus_;
  Options options_;
  core::Pool* pool_ = nullptr;
  // The claim; set by Start, then read by the steps only.
  core::JobLease lease_;
  std::atomic<int64_t> cursor_{0};
  // The steps' own: the last cursor sent in a checkpoint (-1: unknown, a
  // publish of the batch was not applied), and when the lease was renewed.
  int64_t submitted_ = 0;
  absl::Time renewed_;

  mutable std::mutex mu_;
  std::condition_variable ended_cv_;
  bool started_ = false;
  bool stop_ = false;
  // A step is posted or running, or a batch's publishes are in flight.
  bool busy_ = false;
  // Kicked while busy: step again after.
  bool kicked_ = false;
  bool ended_ = false;
  core::Pool::TimerId timer_ = 0;
  // Outlive the bridge: commit callbacks, the hub and the timer hold them.
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<core::DetachableWaiter> wakeup_;
};

}  // namespace switchboard::notification
