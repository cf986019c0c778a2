#pragma once
// Operations and their events in the durable log: one place that writes the
// Operation resource ("media_operation") and appends MediaEvents, so that a
// watcher of "operations/{id}" sees every stage and GetOperation the latest.
//
// Each operation with a request to keep is also a job (kJobKind, keyed by
// the operation's name, its payload the request), so that one a crash
// interrupts runs again (MediaEngine): enqueued in the mutation that records
// the operation, and completed in the one that records its outcome.

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/job_worker.h"
#include "server/core/store.h"
#include "server/media/log_events.h"
#include "switchboard/v1/media.pb.h"

namespace switchboard::media {

inline constexpr char kOperationKind[] = "media_operation";
// The job kind of a media operation.
inline constexpr char kJobKind[] = "media.operation";
// Before jobs, the serialized request of each unfinished operation was kept
// as a resource of this kind; MediaEngine moves any it finds to jobs.
inline constexpr char kPendingKind[] = "media_pending";

class OpRecorder {
 public:
  explicit OpRecorder(core::Store* store) : store_(store) {}

  // The engine's worker for kJobKind: an operation begun from now on is
  // enqueued claimed by its owner (and held there), and the Record that
  // finishes an operation completes its job with the lease held. Without
  // one, operations are enqueued READY (for the next start to claim).
  void SetJobs(core::JobWorker* jobs) { jobs_ = jobs; }

  struct Begun {
    v1::Operation op;
    // A repeat of an earlier request_id: `op` is that operation as it stands
    // now, and nothing should be done again.
    bool replayed = false;
  };
  // Records a new ACCEPTED operation and (if `acknowledge`) its
  // acknowledge event. `echo` (see request_echo.h) goes on the operation and
  // on every event of it. Idempotent on (type, request_id) when request_id is
  // set; a repeat with different content is ALREADY_EXISTS.
  absl::StatusOr<Begun> Begin(v1::OperationType type, const std::string& request_id,
                              const google::protobuf::Struct* context, const std::string& target,
                              const std::string& fingerprint, bool acknowledge, const v1::RequestEcho& echo);

  // The same without blocking. `request` (the serialized request; empty for
  // none) is the payload of the operation's job (none without one). `done`
  // runs on the store's completion thread.
  struct BeginArgs {
    v1::OperationType type = v1::OPERATION_TYPE_UNSPECIFIED;
    std::string request_id;
    std::optional<google::protobuf::Struct> context;
    std::string target;
    std::string fingerprint;
    bool acknowledge = true;
    v1::RequestEcho echo;
    std::string request;
  };
  void BeginAsync(BeginArgs args, std::function<void(absl::StatusOr<Begun>)> done);

  // Receives the operation as recorded, once it is durable; runs on the
  // store's completion thread.
  using Done = std::function<void(absl::StatusOr<v1::Operation>)>;

  // Writes `op` (its state as given) with `events` appended; each event
  // gets the op's request id, context, name and type. A finished op
  // (SUCCEEDED, FAILED, CANCELED) completes its job in the same mutation,
  // when this process holds its lease, and any other state renews the
  // lease; a lease that was taken over refuses the whole write
  // (FAILED_PRECONDITION "lease lost"): the job's new holder records it.
  //
  // The versions with `done` return at once and never wait, so a worker can
  // go on to its next job while the store commits (many outcomes then share
  // one transaction), and they may be called from anywhere, a `done`
  // callback included. At most kMaxRecordsInFlight of them are in the
  // store's queue at a time; beyond that a record waits in this recorder's
  // own queue (in order, holding no thread) and goes to the store as an
  // earlier one becomes durable. waiting() counts those: MediaEngine counts
  // them against media.max_queued_operations, so admission bounds them.
  //
  // The versions without `done` wait for their own commit: only for the
  // media workers (encodes), never a gRPC reaction or a store callback.
  void Record(v1::Operation op, std::vector<v1::MediaEvent> events, Done done);
  absl::StatusOr<v1::Operation> Record(v1::Operation op, std::vector<v1::MediaEvent> events);
  // One event (moved in: a braced {e} would copy it, and a snapshot event
  // holds a whole Operation).
  void Record(v1::Operation op, v1::MediaEvent event, Done done);
  absl::StatusOr<v1::Operation> Record(v1::Operation op, v1::MediaEvent event);
  // SUCCEEDED with a `succeeded` snapshot event.
  void Succeed(v1::Operation op, Done done);
  absl::StatusOr<v1::Operation> Succeed(v1::Operation op);
  // SCHEDULED with a `scheduled` snapshot event.
  void Schedule(v1::Operation op, Done done);
  absl::StatusOr<v1::Operation> Schedule(v1::Operation op);
  // FAILED with the failure record and a `failure` event.
  void Fail(v1::Operation op, const LogEventId& id, const absl::Status& status, Done done);
  absl::StatusOr<v1::Operation> Fail(v1::Operation op, const LogEventId& id, const absl::Status& status);

  static constexpr int kMaxRecordsInFlight = 4096;
  // Records waiting for room in the store's queue (see Record).
  size_t waiting() const;

  // A storage event, about a blob; `op` may be null (uploads, reports).
  // Waits for the commit: the blob listener's uploads (an HTTP thread).
  absl::Status Storage(const v1::Operation* op, const v1::StorageEvent& event, const std::string& request_id);
  // A storage event reported from outside (ReportStorageEvent), idempotent
  // on request_id when it is set: `done` gets true when it repeats an
  // earlier report (nothing is appended), ALREADY_EXISTS for the id of
  // another event. Returns at once; `done` runs on the store's completion
  // thread.
  void ReportedStorage(const v1::StorageEvent& event, const std::string& request_id,
                       std::function<void(absl::StatusOr<bool>)> done);

  absl::StatusOr<v1::Operation> Get(absl::string_view name) const;

 private:
  core::Mutation StorageMutation(const v1::Operation* op, const v1::StorageEvent& event,
                                 const std::string& request_id) const;

  // Hands `m` to the store now, or queues it behind the records waiting
  // for room (kMaxRecordsInFlight); `done` runs once it is durable.
  void Submit(core::Mutation m, core::Store::CommitCallback done);
  // A record left the store's queue: the next waiting one takes its place.
  void Release();

  struct Waiting {
    core::Mutation m;
    core::Store::CommitCallback done;
  };

  core::Store* store_;
  core::JobWorker* jobs_ = nullptr;
  mutable std::mutex in_flight_mu_;
  int in_flight_ = 0;
  std::deque<Waiting> waiting_;
};

}  // namespace switchboard::media
