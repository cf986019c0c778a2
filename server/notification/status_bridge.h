#pragma once
// Puts every resourcing, media and managed-app status change on the bus
// (routing keys in status_routes.h), so any subscription or webhook can
// follow the whole control plane.
//
// A thread follows the global log from a cursor: the log sequence up to
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
// Waits: the bridge's own thread waits for a batch's publishes to commit
// (its back-pressure), when caught up for a commit to wake it, and at the
// end for the release; Start waits for the claim (it runs at server start,
// not on a gRPC thread). Every cursor write is a CommitAsync; no other
// thread waits on one.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/event_hub.h"
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
  // there is none), reads the cursor and starts the thread.
  // FAILED_PRECONDITION when another owner holds an unexpired lease on it.
  absl::Status Start();
  // Finishes the batch in flight, saves the cursor and releases the job
  // (READY again, for the next start or another replica); a bridge that
  // lost its lease writes nothing. Joins the thread.
  void Stop();

  // Log sequence up to which every event has been bridged.
  int64_t cursor() const { return cursor_.load(); }
  // True once a write was refused because the lease was taken over; the
  // bridge has stopped (or is stopping) then.
  bool lease_lost() const;

 private:
  class Wakeup;
  struct Shared;
  // Claims the job, or enqueues it claimed (with the migration).
  absl::StatusOr<core::Job> Acquire();
  void Run();
  // Publishes the bridged events of the batch, in order, each with its
  // checkpoint; false to stop.
  bool PublishBatch(const core::EventBatch& batch);
  bool AnyStatusKeyWanted() const;
  // Saves the cursor when it is far enough ahead of the last save (or the
  // bridge is `idle`), or renews the lease when a heartbeat is due.
  void MaybeSave(bool idle);
  core::JobWrite CheckpointAt(int64_t sequence) const;

  core::Store* store_;
  core::EventHub* hub_;
  BusEngine* bus_;
  Options options_;
  // The claim; set by Start, then read by the thread only.
  core::JobLease lease_;
  std::atomic<int64_t> cursor_{0};
  // The thread's own: the last cursor sent in a checkpoint (-1: unknown, a
  // publish of the batch was not applied), and when the lease was renewed.
  int64_t submitted_ = 0;
  absl::Time renewed_;
  std::atomic<bool> stop_{false};
  // Outlive the bridge: commit callbacks hold them.
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Wakeup> wakeup_;
  std::thread thread_;
};

}  // namespace switchboard::notification
