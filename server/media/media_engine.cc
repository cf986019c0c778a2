#include "server/media/media_engine.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/azure/crypto.h"
#include "common/azure/sas.h"
#include "common/log.h"
#include "common/status.h"
#include "server/blob/blob_names.h"
#include "server/core/paging.h"
#include "server/media/blob_info.h"
#include "server/media/encode_manager.h"
#include "server/media/op_recorder.h"
#include "server/media/request_echo.h"

namespace switchboard::media {
namespace {

constexpr int64_t kMaxSecToLive = 7 * 24 * 3600;

// The operation context travels through storage in x-ms-client-request-id
// (Azure allows 1024 characters); longer contexts travel as the op name.
std::string ClientRequestId(const v1::Operation& op) {
  std::string ctx = StructToJson(op.operation_context()).dump(-1, ' ', true);
  if (op.has_operation_context() && ctx.size() <= 1024) return ctx;
  return op.name();
}


absl::Status Required(bool present, absl::string_view field, absl::string_view what) {
  if (present) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " is required: ", what));
}

absl::StatusOr<blob::Tier> TierOf(v1::AccessTier t) {
  switch (t) {
    case v1::HOT: return blob::Tier::kHot;
    case v1::COOL: return blob::Tier::kCool;
    case v1::COLD: return blob::Tier::kCold;
    case v1::ARCHIVE: return blob::Tier::kArchive;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("access_tier ", static_cast<int>(t), " is not a tier; use Hot, Cool, Cold or Archive"));
  }
}

absl::StatusOr<blob::Rehydrate> PriorityOf(v1::RehydratePriority p) {
  switch (p) {
    case v1::REHYDRATE_PRIORITY_UNSPECIFIED:
    case v1::STANDARD: return blob::Rehydrate::kStandard;
    case v1::HIGH: return blob::Rehydrate::kHigh;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("rehydrate_priority ", static_cast<int>(p), " is unknown; use Standard or High"));
  }
}

absl::StatusOr<blob::Access> AccessOf(v1::ContainerAccess a) {
  switch (a) {
    case v1::PRIVATE: return blob::Access::kPrivate;
    case v1::BLOB: return blob::Access::kBlob;
    case v1::BLOB_CONTAINER: return blob::Access::kContainer;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("access ", static_cast<int>(a), " is not an access type; use Blob, BlobContainer or None"));
  }
}

// Streams a blob from one store into another through a temp file (a
// cross-store copy: reads push, writes pull).
absl::StatusOr<blob::BlobProperties> CopyAcross(const ResolvedBlob& src, const ResolvedBlob& dst,
                                                const std::string& work_dir, const std::string& client_request_id) {
  ASSIGN_OR_RETURN(auto props, src.store->GetProperties(src.ref));
  std::string tmp = absl::StrCat(work_dir, "/copy-", absl::BytesToHexString(azure::RandomBytes(8)));
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  ::unlink(tmp.c_str());
  bool write_ok = true;
  absl::Status read = src.store->Read(src.ref, 0, -1, [&](absl::string_view piece) {
    write_ok = ::write(fd, piece.data(), piece.size()) == static_cast<ssize_t>(piece.size());
    return write_ok;
  });
  if (!read.ok() || !write_ok) {
    ::close(fd);
    return read.ok() ? absl::InternalError("cannot write the copy's temp file") : read;
  }
  ::lseek(fd, 0, SEEK_SET);
  blob::PutOptions o;
  o.content_type = props.content_type;
  o.metadata = props.metadata;
  o.client_request_id = client_request_id;
  auto put = dst.store->PutBlob(dst.ref, props.size, [fd](char* buf, size_t cap) -> absl::StatusOr<size_t> {
    ssize_t n = ::read(fd, buf, cap);
    if (n < 0) return absl::InternalError(absl::StrCat("read failed: ", std::strerror(errno)));
    return static_cast<size_t>(n);
  }, o);
  ::close(fd);
  return put;
}

// For an outcome nobody waits for: logs it if it could not be recorded.
OpRecorder::Done LogUnrecorded(const char* what) {
  return [what](absl::StatusOr<v1::Operation> r) {
    if (!r.ok()) log::Error(absl::StrCat(what, " outcome not recorded"), {{"error", r.status().ToString()}});
  };
}

absl::Status EnsureContainer(const ResolvedBlob& where) {
  ASSIGN_OR_RETURN(bool exists, where.store->ContainerExists(where.ref.account, where.ref.container));
  if (exists) return absl::OkStatus();
  absl::Status s = where.store->CreateContainer(where.ref.account, where.ref.container);
  if (absl::IsAlreadyExists(s)) return absl::OkStatus();
  return s;
}

}  // namespace

MediaEngine::MediaEngine(core::Store* store, MediaEngineOptions options)
    : store_(store), options_(std::move(options)) {}

MediaEngine::~MediaEngine() { Shutdown(); }

absl::StatusOr<std::unique_ptr<MediaEngine>> MediaEngine::Create(core::Store* store, MediaEngineOptions options) {
  auto engine = std::unique_ptr<MediaEngine>(new MediaEngine(store, std::move(options)));
  RETURN_IF_ERROR(engine->Init());
  return engine;
}

absl::Status MediaEngine::Init() {
  const MediaConfig& c = options_.config;
  std::error_code ec;
  std::filesystem::create_directories(options_.work_dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create ", options_.work_dir, ": ", ec.message()));
  for (const auto& a : c.azure_accounts) {
    for (const auto& l : c.local_accounts) {
      if (a.name == l) {
        return absl::InvalidArgumentError(absl::StrCat(
            "media: account '", l, "' is in both local_accounts and azure_accounts; each account has one store"));
      }
    }
  }
  if (!c.local_accounts.empty()) {
    blob::LocalBlobStoreOptions lo;
    lo.root = options_.blob_root;
    lo.accounts = c.local_accounts;
    lo.rehydrate_standard_seconds = c.rehydrate_standard_seconds;
    lo.rehydrate_high_seconds = c.rehydrate_high_seconds;
    auto host = options_.http_host;
    lo.base_url = [host, scheme = options_.http_scheme] {
      return absl::StrCat(scheme, "://", host ? host() : "127.0.0.1");
    };
    ASSIGN_OR_RETURN(local_, blob::LocalBlobStore::Open(lo));
    router_.Add(local_.get(), {});
  }
  if (!c.azure_accounts.empty()) {
    blob::AzureBlobStoreOptions ao;
    ao.accounts = c.azure_accounts;
    ASSIGN_OR_RETURN(auto azure, blob::AzureBlobStore::Open(ao));
    std::vector<std::string> hosts;
    for (const auto& a : c.azure_accounts) {
      absl::string_view ep = a.endpoint;
      absl::ConsumePrefix(&ep, "http://");
      absl::ConsumePrefix(&ep, "https://");
      hosts.push_back(std::string(ep.substr(0, ep.find('/'))));
    }
    azure_ = std::move(azure);
    router_.Add(azure_.get(), hosts);
  }
  router_.SetLocalHost(options_.http_host);
  if (options_.executor == nullptr || options_.executor->pool(kMediaPool) == nullptr ||
      options_.executor->pool(kEncodePool) == nullptr || options_.executor->pool("core") == nullptr) {
    return absl::FailedPreconditionError(
        "media: the executor needs the pools of media::MediaPools (media, encode) and core");
  }
  pool_ = options_.executor->pool(kMediaPool);
  recorder_ = std::make_unique<OpRecorder>(store_);
  core::JobWorker::Options jo;
  jo.kind = kJobKind;
  jo.owner = options_.replica_id.empty() ? core::NewReplicaId() : options_.replica_id;
  jo.lease = options_.job_lease;
  jo.tick = options_.job_lease / 4;

  jobs_ = std::make_unique<core::JobWorker>(
      &store_->jobs(), jo, [this](core::Job job) { RunClaimed(std::move(job)); }, [this] { return Room(); });
  jobs_ticker_ = std::make_unique<core::Ticker>(options_.executor->pool("core"), jo.tick,
                                                [jobs = jobs_.get()] { jobs->Tick(); });
  recorder_->SetJobs(jobs_.get());
  RETURN_IF_ERROR(MigratePending());
  RETURN_IF_ERROR(InitEncodes());
  if (options_.start_jobs) StartJobs();
  return absl::OkStatus();
}

void MediaEngine::StartJobs() {
  // Runs again what a crash or kill interrupted (and, every tick, a job
  // whose lease expired).
  std::call_once(jobs_started_, [this] {
    jobs_->Start();
    jobs_ticker_->Start(options_.job_lease / 4);
  });
}

void MediaEngine::Shutdown() {
  {
    std::lock_guard<std::mutex> l(tasks_mu_);
    stopping_ = true;
  }
  if (jobs_ticker_) jobs_ticker_->Stop();
  ShutdownEncodes();
  if (jobs_) jobs_->Stop();
  // What is queued still runs (the executor stops only after the engines).
  std::unique_lock<std::mutex> l(tasks_mu_);
  tasks_cv_.wait(l, [this] { return tasks_ == 0; });
}

absl::Status MediaEngine::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> l(tasks_mu_);
    if (stopping_) return absl::UnavailableError("the media service is shutting down");
    ++tasks_;
  }
  struct Ended {
    MediaEngine* self;
    ~Ended() {
      std::lock_guard<std::mutex> l(self->tasks_mu_);
      if (--self->tasks_ == 0) self->tasks_cv_.notify_all();
    }
  };
  std::shared_ptr<Ended> ended(new Ended{this});
  if (pool_->Post([task = std::move(task), ended]() { task(); })) return absl::OkStatus();
  // The refused task is destroyed already: `ended` is the last copy.
  ended.reset();
  if (pool_->queue_depth() < pool_->queue_limit()) {
    return absl::UnavailableError("the media service is shutting down");
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "the '", pool_->name(), "' pool's queue is full: ", pool_->queue_limit(),
      " operations wait for a worker (media.max_queued_operations); retry later"));
}

void MediaEngine::LetGo(const std::string& operation) {
  if (auto lease = jobs_->Held(operation)) jobs_->Abandon(operation, lease->token);
}

size_t MediaEngine::Busy() {
  // Outcomes waiting for room in the store's queue count too: the recorder
  // never makes a worker wait for them (op_recorder.h).
  return static_cast<size_t>(pool_->queue_depth()) + in_storage_.load() + recorder_->waiting();
}

int MediaEngine::Room() {
  int64_t busy = static_cast<int64_t>(Busy());
  return static_cast<int>(std::max<int64_t>(0, options_.config.max_queued_operations - busy));
}

void MediaEngine::Start(absl::StatusOr<Job> prepared, Done done) {
  if (!prepared.ok()) return done(prepared.status());
  if (Busy() >= static_cast<size_t>(options_.config.max_queued_operations)) {
    return done(absl::ResourceExhaustedError(absl::StrCat(
        "the media service has ", options_.config.max_queued_operations,
        " operations waiting for a worker, for storage or for the store (media.max_queued_operations); nothing "
        "was recorded, retry later")));
  }
  auto job = std::make_shared<Job>(std::move(*prepared));
  // Runs on the store's completion thread: hand the work to a worker.
  // The args are moved out: nothing reads job->begin after this.
  recorder_->BeginAsync(std::move(job->begin), [this, job, done = std::move(done)](absl::StatusOr<OpRecorder::Begun> begun) {
    if (!begun.ok()) return done(begun.status());
    if (begun->replayed) return done(core::Replayed(std::move(begun->op)));
    v1::Operation op = std::move(begun->op);
    const std::string name = op.name();
    if (job->return_when_accepted) {
      done(op);
      absl::Status posted =
          Post([job, op = std::move(op)]() mutable { job->work(std::move(op), LogUnrecorded("operation")); });
      if (!posted.ok()) {
        // Accepted: its job runs again once the lease is let go.
        log::Warn("accepted operation not queued; it runs once its lease expires",
                  {{"operation", name}, {"error", posted.ToString()}});
        LetGo(name);
      }
      return;
    }
    auto shared_done = std::make_shared<Done>(done);
    absl::Status posted =
        Post([job, op = std::move(op), shared_done]() mutable { job->work(std::move(op), *shared_done); });
    if (!posted.ok()) {
      // Recorded, its job unfinished: it runs again once its lease expires,
      // or at the next start.
      LetGo(name);
      (*shared_done)(absl::Status(posted.code(), absl::StrCat(posted.message(), "; ", name,
                                                                " is recorded and runs later")));
    }
  });
}

#define SB_MEDIA_START(Req) \
  void MediaEngine::Req(const v1::Req##Request& req, Done done) { Start(Prepare(req), std::move(done)); }
SB_MEDIA_START(SetBlobMetadata)
SB_MEDIA_START(AnalyzeBlob)
SB_MEDIA_START(CopyBlob)
SB_MEDIA_START(DeleteBlob)
SB_MEDIA_START(CreateSasUrl)
SB_MEDIA_START(ChangeBlobTier)
SB_MEDIA_START(CreateContainer)
SB_MEDIA_START(DeleteContainer)
SB_MEDIA_START(ChangeContainerAccess)
SB_MEDIA_START(RollStorageKey)
#undef SB_MEDIA_START

template <class Req>
absl::Status MediaEngine::Resume(const v1::Operation& op, const std::string& request) {
  Req req;
  absl::StatusOr<Job> job = req.ParseFromString(request)
                                ? Prepare(req)
                                : absl::DataLossError(absl::StrCat("the kept request of ", op.name(), " is corrupt"));
  if (!job.ok()) {
    // Valid when accepted, not any more (e.g. an account left the config).
    recorder_->Fail(op, log_events::kResumeFailed, job.status(), LogUnrecorded("resumed operation"));
    return absl::OkStatus();
  }
  log::Info("resuming an interrupted operation", {{"operation", op.name()}, {"type", v1::OperationType_Name(op.type())}});
  *job->resumed = true;
  job->work(op, LogUnrecorded("resumed operation"));
  return absl::OkStatus();
}

absl::Status MediaEngine::MigratePending() {
  size_t moved = 0;
  for (;;) {
    // Each page leaves the resources in the mutation that makes its jobs.
    ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kPendingKind, "", 500));
    if (page.items.empty()) break;
    core::Mutation m;
    for (auto& [name, request] : page.items) {
      m.writes.push_back({kPendingKind, name, "", true});
      m.jobs.push_back(core::JobWrite::Enqueue(kJobKind, name, std::move(request)));
    }
    moved += page.items.size();
    RETURN_IF_ERROR(store_->Commit(std::move(m)).status());
  }
  if (moved > 0) log::Info("media: interrupted operations moved from media_pending to jobs", {{"operations", moved}});
  return absl::OkStatus();
}

void MediaEngine::RunClaimed(core::Job job) {
  std::string key = job.key;
  int64_t token = job.lease.token;
  if (!Post([this, job = std::move(job)] { ResumeJob(job); }).ok()) {
    jobs_->Drop(key, token);  // shutting down or full: it runs once its lease expires
  }
}

void MediaEngine::ResumeJob(const core::Job& job) {
  auto give_up = [this, &job](const absl::Status& why) {
    log::Error("interrupted operation not resumed", {{"operation", job.key}, {"error", why.ToString()}});
    store_->jobs().Fail(job.lease, why.ToString(), [this, key = job.key, token = job.lease.token](absl::Status s) {
      jobs_->Drop(key, token);
      if (!s.ok()) log::Error("media job not failed", {{"operation", key}, {"error", s.ToString()}});
    });
  };
  auto op = recorder_->Get(job.key);
  if (!op.ok()) return give_up(op.status());
  if (op->state() == v1::Operation::SUCCEEDED || op->state() == v1::Operation::FAILED ||
      op->state() == v1::Operation::CANCELED) {
    // A guard: an outcome and its job's completion commit together.
    store_->jobs().Complete(job.lease, [this, key = job.key, token = job.lease.token](absl::Status) {
      jobs_->Drop(key, token);
    });
    return;
  }
  absl::Status s;
  switch (op->type()) {
    case v1::SET_BLOB_METADATA: s = Resume<v1::SetBlobMetadataRequest>(*op, job.payload); break;
    case v1::ANALYZE_BLOB: s = Resume<v1::AnalyzeBlobRequest>(*op, job.payload); break;
    case v1::COPY_BLOB: s = Resume<v1::CopyBlobRequest>(*op, job.payload); break;
    case v1::DELETE_BLOB: s = Resume<v1::DeleteBlobRequest>(*op, job.payload); break;
    case v1::CREATE_SAS_URL: s = Resume<v1::CreateSasUrlRequest>(*op, job.payload); break;
    case v1::CHANGE_BLOB_TIER: s = Resume<v1::ChangeBlobTierRequest>(*op, job.payload); break;
    case v1::CREATE_CONTAINER: s = Resume<v1::CreateContainerRequest>(*op, job.payload); break;
    case v1::DELETE_CONTAINER: s = Resume<v1::DeleteContainerRequest>(*op, job.payload); break;
    case v1::CHANGE_CONTAINER_ACCESS: s = Resume<v1::ChangeContainerAccessRequest>(*op, job.payload); break;
    case v1::ROLL_STORAGE_KEY: s = Resume<v1::RollStorageKeyRequest>(*op, job.payload); break;
    default: s = absl::DataLossError(absl::StrCat("no resume for ", v1::OperationType_Name(op->type())));
  }
  if (!s.ok()) give_up(s);
}

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::SetBlobMetadataRequest& req) {
  auto target = router_.ResolveBlob(req.blob_uri(), "blob_uri");
  if (!target.ok()) return target.status();
  blob::Metadata md(req.blob_metadata().begin(), req.blob_metadata().end());
  if (auto s = blob::ValidateMetadata(md, "blob_metadata"); !s.ok()) return s;
  MediaJob job = JobFor(v1::SET_BLOB_METADATA, req, req.blob_uri());
  // The worker does not wait for the write: the store answers once the
  // change is durable, on the thread that wrote it.
  job.work = [this, blob_uri = req.blob_uri(), t = *target, md = std::move(md)](v1::Operation op, Done done) {
    std::string crid = ClientRequestId(op);
    in_storage_.fetch_add(1);
    t.store->SetMetadataAsync(
        t.ref, md, crid,
        [this, blob_uri, op = std::move(op), done = std::move(done)](absl::StatusOr<blob::BlobProperties> props) mutable {
          in_storage_.fetch_sub(1);
          if (!props.ok()) return recorder_->Fail(std::move(op), log_events::kMetadataFailed, props.status(), std::move(done));
          *op.mutable_blob() = ToBlobInfo(blob_uri, *props);
          op.mutable_blob_metadata()->insert(props->metadata.begin(), props->metadata.end());
          recorder_->Succeed(std::move(op), std::move(done));
        });
  };
  return job;
}

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::CopyBlobRequest& req) {
  auto src = router_.ResolveBlob(req.source_uri(), "source_uri");
  if (!src.ok()) return src.status();
  auto dst = router_.ResolveBlob(req.destination_uri(), "destination_uri");
  if (!dst.ok()) return dst.status();
  MediaJob job = JobFor(v1::COPY_BLOB, req, req.destination_uri());
  job.work = [this, req, s = *src, d = *dst](v1::Operation op, Done done) {
    auto props = s.store->GetProperties(s.ref);
    if (!props.ok()) return recorder_->Fail(std::move(op), log_events::kCopyFailed, props.status(), std::move(done));
    op.mutable_blob_metadata()->insert(props->metadata.begin(), props->metadata.end());
    // The copy itself runs after the answer, as in Gridwich.
    recorder_->Schedule(std::move(op), [this, s, d, req, done = std::move(done)](absl::StatusOr<v1::Operation> scheduled) {
      if (scheduled.ok()) CopyScheduled(*scheduled, s, d, req);
      done(std::move(scheduled));
    });
  };
  return job;
}

void MediaEngine::CopyScheduled(v1::Operation op, const ResolvedBlob& s, const ResolvedBlob& d,
                                const v1::CopyBlobRequest& req) {
  const std::string name = op.name();
  absl::Status posted = Post([this, op, s, d, req]() mutable {
    std::string crid = ClientRequestId(op);
    absl::Status st = EnsureContainer(d);
    absl::StatusOr<blob::BlobProperties> out =
        !st.ok() ? absl::StatusOr<blob::BlobProperties>(st)
                 : (s.store == d.store ? s.store->CopyBlob(s.ref, d.ref, crid)
                                       : CopyAcross(s, d, options_.work_dir, crid));
    if (!out.ok()) return recorder_->Fail(std::move(op), log_events::kCopyFailed, out.status(), LogUnrecorded("copy"));
    v1::StorageEvent ev = ToStorageEvent(v1::StorageEvent::BLOB_CREATED, req.destination_uri(), *out, crid);
    ev.set_operation(op.name());
    *op.mutable_blob() = ToBlobInfo(req.destination_uri(), *out);
    op.set_state(v1::Operation::SUCCEEDED);
    v1::MediaEvent e;
    *e.mutable_storage() = ev;
    recorder_->Record(std::move(op), std::move(e), LogUnrecorded("copy"));
  });
  if (!posted.ok()) LetGo(name);  // scheduled: the copy runs again later
}

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::DeleteBlobRequest& req) {
  auto target = router_.ResolveBlob(req.blob_uri(), "blob_uri");
  if (!target.ok()) return target.status();
  MediaJob job = JobFor(v1::DELETE_BLOB, req, req.blob_uri());
  job.work = [this, req, t = *target](v1::Operation op, Done done) {
    auto props = t.store->GetProperties(t.ref);
    if (!props.ok()) return recorder_->Fail(std::move(op), log_events::kDeleteFailed, props.status(), std::move(done));
    op.mutable_blob_metadata()->insert(props->metadata.begin(), props->metadata.end());
    recorder_->Schedule(std::move(op), [this, t, req, props = *props, done = std::move(done)](
                                           absl::StatusOr<v1::Operation> scheduled) {
      if (scheduled.ok()) DeleteScheduled(*scheduled, t, req, props);
      done(std::move(scheduled));
    });
  };
  return job;
}

void MediaEngine::DeleteScheduled(v1::Operation op, const ResolvedBlob& t, const v1::DeleteBlobRequest& req,
                                  const blob::BlobProperties& props) {
  const std::string name = op.name();
  absl::Status posted = Post([this, op, t, req, props]() mutable {
    std::string crid = ClientRequestId(op);
    absl::Status st = t.store->DeleteBlob(t.ref, crid);
    if (!st.ok()) return recorder_->Fail(std::move(op), log_events::kDeleteFailed, st, LogUnrecorded("delete"));
    v1::StorageEvent ev = ToStorageEvent(v1::StorageEvent::BLOB_DELETED, req.blob_uri(), props, crid);
    ev.set_operation(op.name());
    op.set_state(v1::Operation::SUCCEEDED);
    v1::MediaEvent e;
    *e.mutable_storage() = ev;
    recorder_->Record(std::move(op), std::move(e), LogUnrecorded("delete"));
  });
  if (!posted.ok()) LetGo(name);  // scheduled: the delete runs again later
}

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::CreateSasUrlRequest& req) {
  auto target = router_.ResolveBlob(req.blob_uri(), "blob_uri");
  if (!target.ok()) return target.status();
  if (req.sec_to_live() <= 0 || req.sec_to_live() > kMaxSecToLive) {
    return absl::InvalidArgumentError(absl::StrCat("sec_to_live is ", req.sec_to_live(),
                                                        "; give 1 to 604800 seconds (7 days)"));
  }
  std::string perms = req.permissions().empty() ? "r" : req.permissions();
  for (char p : perms) {
    if (p != 'r' && p != 'c' && p != 'w') {
      return absl::InvalidArgumentError(
          absl::StrCat("permissions '", perms, "' may hold only r (read), c (create) and w (write)"));
    }
  }
  // Azure wants them in the order racwdl.
  std::string ordered;
  for (char p : std::string("rcw")) {
    if (perms.find(p) != std::string::npos) ordered.push_back(p);
  }
  MediaJob job = JobFor(v1::CREATE_SAS_URL, req, req.blob_uri());
  job.work = [this, req, t = *target, ordered](v1::Operation op, Done done) {
    auto key = t.store->AccountKey(t.ref.account, "key1");
    if (!key.ok()) return recorder_->Fail(std::move(op), log_events::kSasFailed, key.status(), std::move(done));
    azure::BlobSasValues v;
    absl::Time now = absl::Now();
    v.start = now - absl::Minutes(5);
    v.expiry = now + absl::Seconds(req.sec_to_live());
    v.permissions = ordered;
    auto sas = azure::CreateBlobSas(t.ref.account, t.ref.container, t.ref.name, *key, v);
    if (!sas.ok()) return recorder_->Fail(std::move(op), log_events::kSasFailed, sas.status(), std::move(done));
    std::string url = t.store->BlobUrl(t.ref);
    url.reserve(url.size() + 1 + sas->size());
    url.append(1, '?').append(*sas);
    op.set_sas_url(std::move(url));
    return recorder_->Succeed(std::move(op), std::move(done));
  };
  return job;
}

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::ChangeBlobTierRequest& req) {
  auto target = router_.ResolveBlob(req.blob_uri(), "blob_uri");
  if (!target.ok()) return target.status();
  auto tier = TierOf(req.access_tier());
  if (!tier.ok()) return tier.status();
  auto prio = PriorityOf(req.rehydrate_priority());
  if (!prio.ok()) return prio.status();
  MediaJob job = JobFor(v1::CHANGE_BLOB_TIER, req, req.blob_uri());
  job.work = [this, req, t = *target, tier = *tier, prio = *prio](v1::Operation op, Done done) {
    absl::Status s = t.store->SetTier(t.ref, tier, prio);
    if (!s.ok()) return recorder_->Fail(std::move(op), log_events::kTierFailed, s, std::move(done));
    auto props = t.store->GetProperties(t.ref);
    if (!props.ok()) return recorder_->Fail(std::move(op), log_events::kTierFailed, props.status(), std::move(done));
    *op.mutable_blob() = ToBlobInfo(req.blob_uri(), *props);
    return recorder_->Succeed(std::move(op), std::move(done));
  };
  return job;
}

namespace {
absl::StatusOr<blob::BlobStore*> ContainerTarget(const BlobRouter& router, const std::string& account,
                                                 const std::string& container) {
  if (account.empty()) {
    return absl::InvalidArgumentError("storage_account_name is required, e.g. devstoreaccount1");
  }
  ASSIGN_OR_RETURN(auto* store, router.StoreFor(account, "storage_account_name"));
  RETURN_IF_ERROR(blob::ValidateContainerName(container, "container_name"));
  return store;
}
std::string ContainerUri(const std::string& account, const std::string& container) {
  return absl::StrCat("https://", account, ".blob.core.windows.net/", container, "/");
}
}  // namespace

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::CreateContainerRequest& req) {
  auto store = ContainerTarget(router_, req.storage_account_name(), req.container_name());
  if (!store.ok()) return store.status();
  MediaJob job = JobFor(v1::CREATE_CONTAINER, req, ContainerUri(req.storage_account_name(), req.container_name()));
  job.work = [this, req, store = *store, resumed = job.resumed](v1::Operation op, Done done) {
    absl::Status s = store->CreateContainer(req.storage_account_name(), req.container_name());
    if (absl::IsAlreadyExists(s) && *resumed) {
      log::Info("resumed container create: the interrupted attempt had created it", {{"operation", op.name()}});
      s = absl::OkStatus();
    }
    if (!s.ok()) return recorder_->Fail(std::move(op), log_events::kContainerCreateFailed, s, std::move(done));
    return recorder_->Succeed(std::move(op), std::move(done));
  };
  return job;
}

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::DeleteContainerRequest& req) {
  auto store = ContainerTarget(router_, req.storage_account_name(), req.container_name());
  if (!store.ok()) return store.status();
  MediaJob job = JobFor(v1::DELETE_CONTAINER, req, ContainerUri(req.storage_account_name(), req.container_name()));
  job.work = [this, req, store = *store, resumed = job.resumed](v1::Operation op, Done done) {
    absl::Status s = store->DeleteContainer(req.storage_account_name(), req.container_name());
    if (absl::IsNotFound(s) && *resumed) {
      log::Info("resumed container delete: the interrupted attempt had deleted it", {{"operation", op.name()}});
      s = absl::OkStatus();
    }
    if (!s.ok()) return recorder_->Fail(std::move(op), log_events::kContainerDeleteFailed, s, std::move(done));
    return recorder_->Succeed(std::move(op), std::move(done));
  };
  return job;
}

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::ChangeContainerAccessRequest& req) {
  auto store = ContainerTarget(router_, req.storage_account_name(), req.container_name());
  if (!store.ok()) return store.status();
  auto access = AccessOf(req.access());
  if (!access.ok()) return access.status();
  MediaJob job = JobFor(v1::CHANGE_CONTAINER_ACCESS, req, ContainerUri(req.storage_account_name(), req.container_name()));
  job.work = [this, req, store = *store, access = *access](v1::Operation op, Done done) {
    absl::Status s = store->SetContainerAccess(req.storage_account_name(), req.container_name(), access);
    if (!s.ok()) return recorder_->Fail(std::move(op), log_events::kContainerAccessFailed, s, std::move(done));
    return recorder_->Succeed(std::move(op), std::move(done));
  };
  return job;
}

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::RollStorageKeyRequest& req) {
  if (req.account().empty()) return absl::InvalidArgumentError("account is required, e.g. devstoreaccount1");
  auto store = router_.StoreFor(req.account(), "account");
  if (!store.ok()) return store.status();
  if (req.key_name() != "key1" && req.key_name() != "key2") {
    return absl::InvalidArgumentError(absl::StrCat("key_name '", req.key_name(), "' must be key1 or key2"));
  }
  MediaJob job = JobFor(v1::ROLL_STORAGE_KEY, req, absl::StrCat("https://", req.account(), ".blob.core.windows.net/"));
  job.begin.acknowledge = false;
  job.work = [this, req, store = *store](v1::Operation op, Done done) {
    // No acknowledge and no operation context (docs/wire-formats.md section 4).
    absl::Status s = store->RollKey(req.account(), req.key_name());
    if (!s.ok()) {
      return recorder_->Fail(std::move(op), log_events::kRollKeyFailed, s,
                             [s, done = std::move(done)](absl::StatusOr<v1::Operation> failed) {
                               // The Azure case is the caller's to fix: say so in the RPC status too.
                               if (failed.ok() && absl::IsFailedPrecondition(s)) return done(s);
                               done(std::move(failed));
                             });
    }
    return recorder_->Succeed(std::move(op), std::move(done));
  };
  return job;
}

void MediaEngine::ReportStorageEvent(const v1::ReportStorageEventRequest& req,
                                     std::function<void(core::Reply<v1::StorageEvent>)> done) {
  const auto& e = req.event();
  if (e.kind() != v1::StorageEvent::BLOB_CREATED && e.kind() != v1::StorageEvent::BLOB_DELETED) {
    return done(absl::InvalidArgumentError("event.kind must be BLOB_CREATED or BLOB_DELETED"));
  }
  if (auto s = Required(!e.blob_uri().empty(), "event.blob_uri", "the blob the event is about"); !s.ok()) {
    return done(s);
  }
  recorder_->ReportedStorage(e, req.request_id(), [e, done = std::move(done)](absl::StatusOr<bool> repeat) {
    if (!repeat.ok()) return done(repeat.status());
    done(core::MaybeReplayed<v1::StorageEvent>(e, *repeat));
  });
}

absl::Status MediaEngine::RecordUpload(const std::string& blob_url, const blob::BlobProperties& props,
                                       const std::string& client_request_id) {
  v1::StorageEvent ev = ToStorageEvent(v1::StorageEvent::BLOB_CREATED, blob_url, props, client_request_id);
  return recorder_->Storage(nullptr, ev, client_request_id);
}

absl::StatusOr<v1::Operation> MediaEngine::GetOperation(absl::string_view name) const { return recorder_->Get(name); }

absl::StatusOr<v1::ListOperationsResponse> MediaEngine::ListOperations(const v1::ListOperationsRequest& req) const {
  ASSIGN_OR_RETURN(int limit, core::PageSize(req.page_size()));
  ASSIGN_OR_RETURN(std::string after, core::DecodePageToken("operations", req.page_token()));
  v1::ListOperationsResponse resp;
  bool more = true;
  while (more && resp.operations_size() < limit) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kOperationKind, after, limit));
    more = !page.next_after.empty();
    for (size_t i = 0; i < page.items.size(); ++i) {
      after = page.items[i].first;
      v1::Operation op;
      if (!op.ParseFromString(page.items[i].second)) return absl::DataLossError(absl::StrCat(after, " is corrupt"));
      if (req.type() != v1::OPERATION_TYPE_UNSPECIFIED && op.type() != req.type()) continue;
      if (req.state() != v1::Operation::STATE_UNSPECIFIED && op.state() != req.state()) continue;
      *resp.add_operations() = std::move(op);
      if (resp.operations_size() == limit) {
        more = more || i + 1 < page.items.size();
        break;
      }
    }
  }
  if (more) resp.set_next_page_token(core::EncodePageToken("operations", after));
  return resp;
}

absl::StatusOr<v1::ListBlobsResponse> MediaEngine::ListBlobs(const v1::ListBlobsRequest& req) const {
  ASSIGN_OR_RETURN(auto c, router_.ResolveContainer(req.container_uri(), "container_uri"));
  ASSIGN_OR_RETURN(int limit, core::PageSize(req.page_size()));
  ASSIGN_OR_RETURN(std::string marker, core::DecodePageToken("blobs", req.page_token()));
  ASSIGN_OR_RETURN(auto page, c.store->ListBlobs(c.ref.account, c.ref.container, req.prefix(), marker, limit));
  v1::ListBlobsResponse resp;
  std::string base = req.container_uri();
  if (!absl::EndsWith(base, "/")) base += "/";
  for (const auto& b : page.blobs) *resp.add_blobs() = ToBlobInfo(base + b.name, b);
  if (!page.next_marker.empty()) resp.set_next_page_token(core::EncodePageToken("blobs", page.next_marker));
  return resp;
}

}  // namespace switchboard::media
