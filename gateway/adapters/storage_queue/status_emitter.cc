#include "gateway/adapters/storage_queue/status_emitter.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/thread_name.h"
#include "wire/terraform_output.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::gateway::storage_queue {
namespace {

CursorLeaseOptions LeaseOptions(const StatusEmitterOptions& e) {
  CursorLeaseOptions o;
  o.cursor = e.cursor;
  o.holder = e.lease_holder;
  o.ttl = e.lease_ttl;
  o.standby_retry = e.standby_retry;
  o.max_backoff = e.max_backoff;
  o.what = "status queue emitter";
  o.doing = "emitting";
  o.ttl_key = "status_queue_cursor_lease_seconds";
  o.error_kind = "status_queue_cursor_lease";
  o.commit_error_kind = "status_queue_cursor_commit";
  return o;
}

}  // namespace

StatusEmitter::StatusEmitter(const client::Connection* conn, const QueueClient* client, StatusEmitterOptions options,
                             Hooks hooks)
    : conn_(conn),
      client_(client),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      lease_(conn, LeaseOptions(options_), [this](const std::string& kind) { hooks_.Error(kind); }) {}

StatusEmitter::~StatusEmitter() { Stop(); }

void StatusEmitter::Start() {
  thread_ = NamedThread("status-emitter", [this] { Loop(); });
}

void StatusEmitter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    halt_ = true;
    if (watch_ctx_) watch_ctx_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatusEmitter::Abandon() {
  abandon_ = true;
  Stop();
}

void StatusEmitter::Sleep(std::chrono::milliseconds d, const std::atomic<bool>& flag) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&flag] { return flag.load(); });
}

void StatusEmitter::Loop() {
  lease_.RunTerms(
      stop_, [this](std::chrono::milliseconds d) { Sleep(d, stop_); }, [this](int64_t start) { RunTerm(start); });
}

void StatusEmitter::RunTerm(int64_t start) {
  bool run = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stop_) {
      run = true;
      halt_ = false;
    }
  }
  if (run) {
    committed_ = start;
    lease_.StartTerm([this] { LeaseLost(); });
    Emit(start);
    lease_.StopRenewing();
  }
  // A clean stop hands the lease back, so another gateway goes on at once.
  lease_.EndTerm(!abandon_);
}

void StatusEmitter::LeaseLost() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    halt_ = true;
    if (watch_ctx_) watch_ctx_->TryCancel();
  }
  cv_.notify_all();
}

bool StatusEmitter::Commit(int64_t sequence) {
  // Abandoned (as a crash would), or the lease lost: the next holder commits.
  if (abandon_ || (lease_.leased() && !lease_.held())) return false;
  int64_t committed = 0;
  if (!lease_.Commit(sequence, 5, halt_, [this](std::chrono::milliseconds d) { Sleep(d, halt_); }, &committed)) {
    return false;
  }
  committed_ = committed;
  return true;
}

StatusEmitter::PutResult StatusEmitter::PutWithRetry(const std::string& body) {
  auto backoff = std::chrono::milliseconds(100);
  bool queue_ready = false;
  while (!halt_) {
    absl::Status s = queue_ready ? absl::OkStatus() : client_->CreateQueue(options_.queue);
    if (s.ok()) {
      queue_ready = true;
      auto put = client_->PutMessage(options_.queue, body);
      if (put.ok()) return PutResult::kPut;
      s = put.status();
      if (s.code() == absl::StatusCode::kNotFound) queue_ready = false;
      if (s.code() == absl::StatusCode::kInvalidArgument) {
        hooks_.Error("status_queue_rejected");
        log::Error("the status queue rejected a status message; skipping it",
                   {{"queue", options_.queue}, {"error", std::string(s.message())}, {"bytes", body.size()}});
        return PutResult::kRejected;
      }
    }
    hooks_.Error("status_queue_put");
    log::Warn("cannot put a status message; retrying",
              {{"queue", options_.queue}, {"error", std::string(s.message())}, {"backoff_ms", backoff.count()}});
    Sleep(backoff, halt_);
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
  return PutResult::kStopped;
}

void StatusEmitter::Emit(int64_t start) {
  auto backoff = std::chrono::milliseconds(100);
  int64_t last = start;
  bool reconnecting = false;
  while (!halt_) {
    // The server may have restarted and freed the lease: renew it before
    // putting anything more (CursorLeaseHolder::Confirm).
    if (reconnecting && !lease_.Confirm()) {
      Sleep(backoff, halt_);
      backoff = std::min(options_.max_backoff, backoff * 2);
      continue;
    }
    reconnecting = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (halt_) break;
      watch_ctx_ = conn_->NewStreamContext();
    }
    v1::WatchWorkspacesRequest req;
    req.set_after_sequence(last);
    auto reader = v1::ResourcingService::NewStub(conn_->channel())->WatchWorkspaces(watch_ctx_.get(), req);
    v1::ResourcingEvent event;
    int skipped = 0;
    while (!halt_ && reader->Read(&event)) {
      backoff = std::chrono::milliseconds(100);
      if (!event.has_status()) {
        last = event.sequence();
        if (++skipped >= options_.skip_commit_every) {
          if (Commit(last)) skipped = 0;
        }
        continue;
      }
      // Another gateway may hold the lease by now: put nothing more.
      if (!lease_.Valid()) break;
      std::string json = wire::StatusReportToJson(event.status());
      std::string body = options_.encode_base64 ? absl::Base64Escape(json) : json;
      PutResult put = PutWithRetry(body);
      if (put == PutResult::kStopped) break;  // uncommitted: sent again by the next emitter
      if (put == PutResult::kPut) {
        hooks_.Count("storage_queue_status_messages", "Status messages put on the status queue.");
        log::Info("status message emitted", {{"queue", options_.queue},
                                             {"project_cd", event.status().project_cd()},
                                             {"sequence", event.sequence()}});
      }
      last = event.sequence();
      Commit(last);
      skipped = 0;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (halt_) watch_ctx_->TryCancel();
    }
    grpc::Status s = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(mu_);
      watch_ctx_.reset();
    }
    if (halt_) break;
    if (skipped > 0) Commit(last);
    hooks_.Error("status_queue_watch");
    log::Warn("status queue watch ended; reconnecting",
              {{"code", CodeName(static_cast<absl::StatusCode>(s.error_code()))},
               {"error", s.error_message()},
               {"after_sequence", last}});
    Sleep(backoff, halt_);
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
}

}  // namespace switchboard::gateway::storage_queue
