#include "server/media/encode_manager.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/azure/crypto.h"
#include "common/azure/sas.h"
#include "common/log.h"
#include "common/status.h"
#include "server/media/log_events.h"

namespace switchboard::media {
namespace {

std::string Stem(const std::string& blob_name) {
  std::string base = blob_name.substr(blob_name.rfind('/') + 1);
  auto dot = base.rfind('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

std::string ContentTypeFor(const std::string& ext) {
  if (ext == "mp4") return "video/mp4";
  if (ext == "m4a") return "audio/mp4";
  if (ext == "mkv") return "video/x-matroska";
  if (ext == "webm") return "video/webm";
  if (ext == "mp3") return "audio/mpeg";
  return "application/octet-stream";
}

v1::MediaEvent EncodeEvent(const v1::EncodeProgress& p) {
  v1::MediaEvent e;
  *e.mutable_encode() = p;
  return e;
}

}  // namespace

EncodeManager::EncodeManager(OpRecorder* recorder, const MediaConfig& config, std::string work_dir, core::Pool* pool,
                             core::Pool* timers)
    : recorder_(recorder), config_(config), work_dir_(std::move(work_dir)), pool_(pool), timers_(timers) {}

EncodeManager::~EncodeManager() { Shutdown(); }

EncodeManager::Slot::~Slot() {
  if (manager_ != nullptr) manager_->Unreserve();
}

void EncodeManager::Unreserve() {
  std::lock_guard<std::mutex> l(mu_);
  --reserved_;
}

void EncodeManager::Shutdown() {
  std::unique_lock<std::mutex> l(mu_);
  stopping_ = true;
  for (auto& [_, job] : active_) job->cancel.Cancel();
  // The pool runs what it accepted, even while the executor stops.
  cv_.wait(l, [this] { return tasks_ == 0; });
}

absl::StatusOr<EncodeManager::Slot> EncodeManager::Reserve() {
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) return absl::UnavailableError("the media service is shutting down");
  // Only this manager posts to the pool, so its queue never holds more than
  // waiting_ and a reserved slot always finds room.
  if (reserved_ + waiting_ >= pool_->queue_limit()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the '", pool_->name(), "' pool's queue is full: ", pool_->queue_limit(),
        " encodes are waiting to start (media.max_queued_encodes); nothing was recorded, retry later"));
  }
  ++reserved_;
  return Slot(this);
}

absl::StatusOr<v1::Operation> EncodeManager::Submit(std::shared_ptr<EncodeJob> job, Slot slot) {
  job->op.mutable_encode()->set_state(v1::ENCODE_SCHEDULED);
  job->op.set_state(v1::Operation::SCHEDULED);
  ASSIGN_OR_RETURN(job->op, recorder_->Record(job->op, {EncodeEvent(job->op.encode())}));
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) return absl::UnavailableError("the media service is shutting down");
  const std::string name = job->op.name();
  active_[name] = job;
  queue_.push_back(job);
  if (!pool_->Post([this] { RunNext(); })) {
    // Refused only once the executor stops (the slot kept room).
    queue_.pop_back();
    active_.erase(name);
    return absl::UnavailableError("the media service is shutting down");
  }
  slot.manager_ = nullptr;
  --reserved_;
  ++waiting_;
  ++tasks_;
  return job->op;
}

void EncodeManager::Cancel(const std::string& name, Done done) {
  std::shared_ptr<EncodeJob> job;
  bool was_queued = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = active_.find(name);
    if (it != active_.end()) {
      job = it->second;
      job->cancel.Cancel();
      for (auto q = queue_.begin(); q != queue_.end(); ++q) {
        if (*q == job) {
          queue_.erase(q);
          was_queued = true;
          active_.erase(it);
          break;
        }
      }
    }
  }
  if (!job) {
    auto op = recorder_->Get(name);
    if (!op.ok()) return done(op.status());
    if (op->type() != v1::ENCODE_FLIP && op->type() != v1::ENCODE_CLOUDPORT) {
      return done(absl::InvalidArgumentError(absl::StrCat("name: ", name, " is not an encode")));
    }
    // A repeat: the encode was canceled by an earlier call.
    if (op->state() == v1::Operation::CANCELED) return done(core::Replayed(std::move(*op)));
    return done(absl::FailedPreconditionError(
        absl::StrCat(name, " has already ended (", v1::Operation::State_Name(op->state()), "); nothing to cancel")));
  }
  if (was_queued) {
    v1::Operation op = job->op;
    op.mutable_encode()->set_state(v1::ENCODE_CANCELED);
    op.mutable_encode()->set_current_status("canceled before it started");
    op.set_state(v1::Operation::CANCELED);
    return done(recorder_->Record(op, {EncodeEvent(op.encode())}));
  }
  // Running: its task stops ffmpeg and records `canceled`.
  AwaitEnd(name, 1500, std::move(done));
}

void EncodeManager::AwaitEnd(std::string name, int left, Done done) {
  auto op = recorder_->Get(name);
  if (!op.ok()) return done(op.status());
  if (op->state() == v1::Operation::CANCELED || op->state() == v1::Operation::SUCCEEDED ||
      op->state() == v1::Operation::FAILED) {
    return done(std::move(*op));
  }
  if (left <= 0) return done(absl::DeadlineExceededError(absl::StrCat(name, " did not stop within 15 s")));
  auto shared = std::make_shared<Done>(std::move(done));
  const core::Pool::TimerId timer = timers_->RunAfter(
      std::chrono::milliseconds(10), [this, name, left, shared] { AwaitEnd(name, left - 1, std::move(*shared)); });
  if (timer == 0) {
    (*shared)(absl::UnavailableError(absl::StrCat(
        "the cancel of ", name, " was sent, but its end cannot be awaited now (the '", timers_->name(),
        "' pool is stopping or full); GetOperation shows it")));
  }
}

void EncodeManager::RunNext() {
  std::shared_ptr<EncodeJob> job;
  {
    std::lock_guard<std::mutex> l(mu_);
    --waiting_;
    // A job canceled while queued left the queue; its task runs the next.
    if (!queue_.empty()) {
      job = queue_.front();
      queue_.pop_front();
    }
  }
  // Counts the task as ended even if the encode threw (the pool carries on).
  struct Ended {
    EncodeManager* self;
    const std::shared_ptr<EncodeJob>& job;
    ~Ended() {
      std::lock_guard<std::mutex> l(self->mu_);
      if (job) self->active_.erase(job->op.name());
      if (--self->tasks_ == 0) self->cv_.notify_all();
    }
  } ended{this, job};
  if (job) RunJob(job);
}

absl::StatusOr<std::string> EncodeManager::InputFor(const EncodeJob& job, const ResolvedBlob& in) const {
  if (auto path = in.store->LocalPath(in.ref)) return *path;
  // Remote: ffmpeg reads it over HTTP with a read SAS for the job's lifetime.
  ASSIGN_OR_RETURN(std::string key, in.store->AccountKey(in.ref.account, "key1"));
  azure::BlobSasValues v;
  v.start = absl::Now() - absl::Minutes(5);
  v.expiry = absl::Now() + absl::Seconds(job.sec_to_live);
  ASSIGN_OR_RETURN(std::string sas, azure::CreateBlobSas(in.ref.account, in.ref.container, in.ref.name, key, v));
  return absl::StrCat(in.store->BlobUrl(in.ref), "?", sas);
}

void EncodeManager::RunJob(const std::shared_ptr<EncodeJob>& job) {
  v1::Operation op = job->op;
  auto fail = [&](const LogEventId& id, const absl::Status& s) {
    op.mutable_encode()->set_state(v1::FAILURE);
    op.mutable_encode()->set_current_status(std::string(s.message()));
    auto r = recorder_->Fail(op, id, s);
    if (!r.ok()) log::Error("encode failure not recorded", {{"operation", op.name()}, {"error", r.status().ToString()}});
  };
  auto canceled = [&]() {
    op.mutable_encode()->set_state(v1::ENCODE_CANCELED);
    op.mutable_encode()->set_current_status("canceled");
    op.set_state(v1::Operation::CANCELED);
    (void)recorder_->Record(op, {EncodeEvent(op.encode())});
  };
  if (job->cancel.canceled()) return canceled();
  // Looked up again for each encode: ffmpeg may have been installed since.
  if (absl::Status s = CheckFfmpeg(config_); !s.ok()) return fail(log_events::kEncodeFailed, s);
  // processing, 0%.
  op.set_state(v1::Operation::RUNNING);
  op.mutable_encode()->set_state(v1::PROCESSING);
  op.mutable_encode()->set_percent_complete(0);
  op.mutable_encode()->set_current_status("starting");
  auto rec = recorder_->Record(op, {EncodeEvent(op.encode())});
  if (rec.ok()) op = *rec;

  std::vector<std::string> inputs;
  for (const auto& in : job->inputs) {
    auto props = in.store->GetProperties(in.ref);
    if (!props.ok()) return fail(log_events::kEncodeInputFailed, props.status());
    if (props->tier == blob::Tier::kArchive) {
      return fail(log_events::kEncodeInputFailed,
                  absl::FailedPreconditionError(absl::StrCat("input '", in.ref.name, "' is archived; rehydrate it")));
    }
    auto path = InputFor(*job, in);
    if (!path.ok()) return fail(log_events::kEncodeInputFailed, path.status());
    inputs.push_back(*path);
  }
  std::unique_ptr<Encoder> encoder = MakeFfmpegEncoder(config_.ffmpeg_path);
  const size_t n_out = job->outputs.size();
  for (size_t k = 0; k < n_out; ++k) {
    const EncodeOutput& out = job->outputs[k];
    EncodeSpec spec;
    spec.inputs = inputs;
    spec.args = out.args;
    spec.output_path = absl::StrCat(work_dir_, "/encode-", absl::BytesToHexString(azure::RandomBytes(8)), ".",
                                    out.extension);
    auto last_emit = std::chrono::steady_clock::now();
    int last_pct = 0;
    ProgressFn progress = [&](double f, const std::string& status) {
      int pct = f < 0 ? last_pct : static_cast<int>((static_cast<double>(k) + f) * 100.0 / static_cast<double>(n_out));
      pct = std::min(pct, 99);  // 100 comes with success, after the upload
      auto now = std::chrono::steady_clock::now();
      if (pct == last_pct || now - last_emit < std::chrono::duration<double>(config_.progress_interval_seconds)) {
        return;
      }
      last_emit = now;
      last_pct = pct;
      op.mutable_encode()->set_percent_complete(pct);
      op.mutable_encode()->set_current_status(absl::StrCat(out.profile, ": ", status));
      auto r = recorder_->Record(op, {EncodeEvent(op.encode())});
      if (r.ok()) op = *r;
    };
    absl::Status s = encoder->Run(spec, progress, job->cancel);
    struct Cleanup {
      std::string path;
      ~Cleanup() { ::unlink(path.c_str()); }
    } cleanup{spec.output_path};
    if (absl::IsCancelled(s)) return canceled();
    if (!s.ok()) return fail(log_events::kEncodeFailed, s);
    // Upload the output.
    blob::BlobRef ref = job->output_container.ref;
    ref.name = absl::StrCat(op.encode().workflow_job_name(), "/", Stem(job->inputs.front().ref.name), "-",
                            out.profile, ".", out.extension);
    int fd = ::open(spec.output_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(log_events::kEncodeOutputFailed, absl::InternalError("the encoder wrote no output"));
    int64_t size = ::lseek(fd, 0, SEEK_END);
    ::lseek(fd, 0, SEEK_SET);
    blob::PutOptions po;
    po.content_type = ContentTypeFor(out.extension);
    po.metadata = {{"workflowJobName", op.encode().workflow_job_name()}, {"profile", out.profile}};
    auto ensure = job->output_container.store->ContainerExists(ref.account, ref.container);
    if (ensure.ok() && !*ensure) (void)job->output_container.store->CreateContainer(ref.account, ref.container);
    auto put = job->output_container.store->PutBlob(ref, size, [fd](char* buf, size_t cap) -> absl::StatusOr<size_t> {
      ssize_t r = ::read(fd, buf, cap);
      if (r < 0) return absl::InternalError(absl::StrCat("read failed: ", std::strerror(errno)));
      return static_cast<size_t>(r);
    }, po);
    ::close(fd);
    if (!put.ok()) return fail(log_events::kEncodeOutputFailed, put.status());
    op.mutable_encode()->add_output_uris(job->output_container.store->BlobUrl(ref));
  }
  op.mutable_encode()->set_state(v1::SUCCESS);
  op.mutable_encode()->set_percent_complete(100);
  op.mutable_encode()->set_current_status("done");
  op.set_state(v1::Operation::SUCCEEDED);
  auto r = recorder_->Record(op, {EncodeEvent(op.encode())});
  if (!r.ok()) log::Error("encode success not recorded", {{"operation", op.name()}, {"error", r.status().ToString()}});
}

}  // namespace switchboard::media
