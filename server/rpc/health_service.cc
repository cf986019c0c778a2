#include "server/rpc/health_service.h"

#include "absl/strings/str_cat.h"

namespace switchboard::rpc {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthService::Watcher final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  Watcher(HealthService* owner, std::string service) : owner_(owner), service_(std::move(service)) {
    Send(owner_->StatusOf(service_));
  }

  // Queues a status; the latest one wins if a write is in flight.
  void Send(HealthCheckResponse::ServingStatus status) {
    std::lock_guard<std::mutex> lock(mu_);
    next_ = status;
    has_next_ = true;
    MaybeWriteLocked();
  }

  void End() {
    std::lock_guard<std::mutex> lock(mu_);
    ending_ = true;
    if (!writing_ && !has_next_) FinishLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked();
      return;
    }
    if (has_next_) MaybeWriteLocked();
    else if (ending_) FinishLocked();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!writing_) FinishLocked();
    ending_ = true;
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(owner_->mu_);
      owner_->watchers_.erase(this);
    }
    delete this;
  }

 private:
  void MaybeWriteLocked() {
    if (writing_ || finished_ || !has_next_) return;
    if (next_ == last_sent_ && sent_once_) {
      has_next_ = false;
      return;
    }
    msg_.set_status(next_);
    last_sent_ = next_;
    sent_once_ = true;
    has_next_ = false;
    writing_ = true;
    StartWrite(&msg_);
  }
  void FinishLocked() {
    if (finished_) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  HealthService* owner_;
  std::string service_;
  std::mutex mu_;
  HealthCheckResponse msg_;
  HealthCheckResponse::ServingStatus next_ = HealthCheckResponse::UNKNOWN;
  HealthCheckResponse::ServingStatus last_sent_ = HealthCheckResponse::UNKNOWN;
  bool has_next_ = false, sent_once_ = false, writing_ = false, finished_ = false, ending_ = false;
};

HealthService::HealthService(std::vector<std::string> services) : services_(services.begin(), services.end()) {
  services_.insert("");
}

HealthService::~HealthService() = default;

HealthCheckResponse::ServingStatus HealthService::StatusOf(const std::string& service) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (services_.count(service) == 0) return HealthCheckResponse::SERVICE_UNKNOWN;
  return serving_ ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

void HealthService::SetServing(bool serving) {
  std::set<Watcher*> watchers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    serving_ = serving;
    watchers = watchers_;
  }
  for (Watcher* w : watchers) w->Send(serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING);
}

void HealthService::Shutdown() {
  std::set<Watcher*> watchers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    watchers = watchers_;
  }
  for (Watcher* w : watchers) w->End();
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* ctx, const HealthCheckRequest* req,
                                               HealthCheckResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto status = StatusOf(req->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 absl::StrCat("unknown service '", req->service(),
                                              "'; ask for \"\" or a full name such as switchboard.v1.MediaService")));
    return reactor;
  }
  resp->set_status(status);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(grpc::CallbackServerContext*,
                                                                    const HealthCheckRequest* req) {
  auto* w = new Watcher(this, req->service());
  bool ended;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended = shutdown_;
    if (!ended) watchers_.insert(w);
  }
  if (ended) w->End();
  return w;
}

}  // namespace switchboard::rpc
