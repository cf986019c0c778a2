#pragma once
// The media service, free of gRPC: every Gridwich blob operation and the
// encoders, over the BlobStores, recorded in the event log.
//
// Each mutating call:
//   1. validates the request (INVALID_ARGUMENT naming the field; nothing is
//      recorded or changed);
//   2. records the Operation ("operations/{id}") with its acknowledge event,
//      idempotently on (operation type, request_id): a repeat returns the
//      operation as it stands and does nothing again;
//   3. does the work and records the outcome: `succeeded`, `scheduled` then
//      a storage event (copy, delete), encode stages, or `failure` with a
//      stable logEventId (server/media/log_events.h).
// Recording (2) does not hold a worker thread; the work (3) runs on the
// executor's `media` pool, encodes on its `encode` pool (media_config.h:
// MediaPools), and the job worker's ticks on its `core` pool's timers. `done` gets the Operation once it is succeeded,
// failed or scheduled, or, with the request's return_when_accepted, once it
// is ACCEPTED. Each operation is also a job ("media.operation", see
// op_recorder.h) whose payload is the request: the recording in (2) enqueues
// it claimed by this engine, and the outcome in (3) completes it. Create
// claims the jobs a crash or kill of switchboardd left unfinished and runs
// them again, so an accepted operation survives both.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/blob/local_blob_store.h"
#include "server/core/executor.h"
#include "server/core/job_worker.h"
#include "server/core/ticker.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "server/media/blob_router.h"
#include "server/media/media_config.h"
#include "server/media/media_job.h"
#include "switchboard/v1/media.pb.h"

namespace switchboard::media {

class EncodeManager;

struct MediaEngineOptions {
  MediaConfig config;
  // The server's executor, holding the pools of MediaPools(config) and
  // `core` (the job worker's ticks). Its owner stops it after Shutdown.
  core::Executor* executor = nullptr;
  // Root of the local blob store (<data_dir>/blobs).
  std::string blob_root;
  // Temp files (cross-store copies, encodes): <data_dir>/media-tmp.
  std::string work_dir;
  // "127.0.0.1:8081", asked each time: where the local store is served.
  std::function<std::string()> http_host;
  // "https" when the listener serves TLS: the local store's blob URLs use it.
  std::string http_scheme = "http";
  // The owner of the job leases taken here: this replica's id, one per
  // process start (empty: core::NewReplicaId()).
  std::string replica_id;
  // How long a claimed operation's lease lasts without a heartbeat.
  absl::Duration job_lease = absl::Seconds(60);
  // Whether Create starts claiming jobs (resuming what a crash left). The
  // server says false and calls StartJobs() once what operations need is up
  // (the HTTP listener whose address http_host gives).
  bool start_jobs = true;
};


class MediaEngine {
 public:
  // Gets the operation; a repeat of an earlier request_id gets that request's
  // operation as it stands, marked replayed.
  using Done = std::function<void(core::Reply<v1::Operation>)>;

  static absl::StatusOr<std::unique_ptr<MediaEngine>> Create(core::Store* store, MediaEngineOptions options);
  ~MediaEngine();

  void SetBlobMetadata(const v1::SetBlobMetadataRequest& req, Done done);
  void AnalyzeBlob(const v1::AnalyzeBlobRequest& req, Done done);
  void CopyBlob(const v1::CopyBlobRequest& req, Done done);
  void DeleteBlob(const v1::DeleteBlobRequest& req, Done done);
  void CreateSasUrl(const v1::CreateSasUrlRequest& req, Done done);
  void ChangeBlobTier(const v1::ChangeBlobTierRequest& req, Done done);
  void CreateContainer(const v1::CreateContainerRequest& req, Done done);
  void DeleteContainer(const v1::DeleteContainerRequest& req, Done done);
  void ChangeContainerAccess(const v1::ChangeContainerAccessRequest& req, Done done);
  void RollStorageKey(const v1::RollStorageKeyRequest& req, Done done);
  void Encode(const v1::EncodeRequest& req, Done done);
  void CancelEncode(const v1::CancelEncodeRequest& req, Done done);
  // Every request of the batch as its own call with return_when_accepted;
  // `done` gets one result per request, in order (batch_ops.cc).
  // INVALID_ARGUMENT for an empty batch or one of more than kMaxBatch. Each
  // result says whether it was replayed; the whole answer is marked replayed
  // when every request was.
  static constexpr int kMaxBatch = 1000;
  void SubmitBatch(const v1::SubmitBatchRequest& req, std::function<void(core::Reply<v1::SubmitBatchResponse>)> done);

  // Records the storage event; idempotent on request_id when it is set.
  // Returns at once; `done` runs once the event is durable.
  void ReportStorageEvent(const v1::ReportStorageEventRequest& req,
                          std::function<void(core::Reply<v1::StorageEvent>)> done);
  absl::StatusOr<v1::Operation> GetOperation(absl::string_view name) const;
  absl::StatusOr<v1::ListOperationsResponse> ListOperations(const v1::ListOperationsRequest& req) const;
  absl::StatusOr<v1::ListBlobsResponse> ListBlobs(const v1::ListBlobsRequest& req) const;

  // For the blob listener: a blob written over HTTP (Put Blob) becomes a
  // BlobCreated storage event.
  absl::Status RecordUpload(const std::string& blob_url, const blob::BlobProperties& props,
                            const std::string& client_request_id);

  const BlobRouter& router() const { return router_; }
  blob::LocalBlobStore* local_store() const { return local_.get(); }
  const MediaConfig& config() const { return options_.config; }

  // Starts claiming jobs, when options.start_jobs was false. Idempotent.
  void StartJobs();
  // Later calls fail UNAVAILABLE; cancels encodes, stops claiming jobs and
  // waits for the tasks it posted to the executor to end (the executor
  // itself is stopped after, by its owner). Idempotent.
  void Shutdown();

 private:
  MediaEngine(core::Store* store, MediaEngineOptions options);
  absl::Status Init();

  using Job = MediaJob;
  // Validates `req` (INVALID_ARGUMENT naming the field) into a Job.
  absl::StatusOr<Job> Prepare(const v1::SetBlobMetadataRequest& req);
  absl::StatusOr<Job> Prepare(const v1::AnalyzeBlobRequest& req);
  absl::StatusOr<Job> Prepare(const v1::CopyBlobRequest& req);
  absl::StatusOr<Job> Prepare(const v1::DeleteBlobRequest& req);
  absl::StatusOr<Job> Prepare(const v1::CreateSasUrlRequest& req);
  absl::StatusOr<Job> Prepare(const v1::ChangeBlobTierRequest& req);
  absl::StatusOr<Job> Prepare(const v1::CreateContainerRequest& req);
  absl::StatusOr<Job> Prepare(const v1::DeleteContainerRequest& req);
  absl::StatusOr<Job> Prepare(const v1::ChangeContainerAccessRequest& req);
  absl::StatusOr<Job> Prepare(const v1::RollStorageKeyRequest& req);
  // The second half of a copy or delete, on a worker once it is SCHEDULED:
  // the storage call, then its storage event or failure.
  void CopyScheduled(v1::Operation op, const ResolvedBlob& s, const ResolvedBlob& d, const v1::CopyBlobRequest& req);
  void DeleteScheduled(v1::Operation op, const ResolvedBlob& t, const v1::DeleteBlobRequest& req,
                       const blob::BlobProperties& props);
  // Records the job's operation, then runs its work (see the class comment).
  void Start(absl::StatusOr<Job> job, Done done);
  // Moves a previous release's media_pending resources to jobs (at start).
  absl::Status MigratePending();
  // A job claimed at start (or later, once its lease expired): hands it to
  // a worker, which runs the operation again (ResumeJob).
  void RunClaimed(core::Job job);
  void ResumeJob(const core::Job& job);
  template <class Req>
  absl::Status Resume(const v1::Operation& op, const std::string& request);
  // Runs `task` on the `media` pool. UNAVAILABLE once shutting down,
  // RESOURCE_EXHAUSTED naming media.max_queued_operations when the pool's
  // queue is full; `task` is then not run.
  absl::Status Post(std::function<void()> task);
  // An operation recorded (its job held here) whose work could not be
  // posted: its lease is let go, so the job runs again once it expires
  // (here, or at the next start).
  void LetGo(const std::string& operation);
  // Operations queued for a worker or waiting for storage, and outcomes
  // waiting for room in the store's queue: what media.max_queued_operations
  // bounds.
  size_t Busy();
  // Room for claimed jobs under media.max_queued_operations.
  int Room();
  // encode_ops.cc
  absl::Status InitEncodes();
  void ShutdownEncodes();

  core::Store* store_;
  MediaEngineOptions options_;
  std::unique_ptr<blob::LocalBlobStore> local_;
  std::unique_ptr<blob::BlobStore> azure_;
  BlobRouter router_;
  std::unique_ptr<OpRecorder> recorder_;
  // Claims and keeps the leases of "media.operation" jobs, ticked by
  // jobs_ticker_ on the `core` pool.
  std::unique_ptr<core::JobWorker> jobs_;
  std::unique_ptr<core::Ticker> jobs_ticker_;
  std::once_flag jobs_started_;
  // The executor's `media` pool (storage operations, analysis, the
  // recording half of an encode).
  core::Pool* pool_ = nullptr;
  // Tasks this engine posted to pool_ and that have not ended (Shutdown
  // waits for none), and whether it still posts.
  std::mutex tasks_mu_;
  std::condition_variable tasks_cv_;
  int64_t tasks_ = 0;
  bool stopping_ = false;
  // Operations whose storage call a worker handed to the store, not yet
  // answered (counted with the pool's queue against
  // media.max_queued_operations).
  std::atomic<size_t> in_storage_{0};
  std::unique_ptr<EncodeManager> encodes_;
};

}  // namespace switchboard::media
