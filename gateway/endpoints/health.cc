#include "gateway/endpoints/health.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status.h"

namespace switchboard::gateway {

namespace {

httpserver::Response Answer(const grpc::Status& s, const grpc::health::v1::HealthCheckResponse& resp) {
  if (!s.ok()) {
    return httpserver::Response::Text(
        503, absl::StrCat("switchboardd unreachable: ", CodeName(static_cast<absl::StatusCode>(s.error_code())), ": ",
                          s.error_message()));
  }
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return httpserver::Response::Text(503, "switchboardd is not serving");
  }
  return httpserver::Response::Text(200, "ok");
}

}  // namespace

HealthEndpoint::HealthEndpoint(const client::Connection* conn, std::chrono::milliseconds timeout)
    : conn_(conn), timeout_(timeout), stub_(grpc::health::v1::Health::NewStub(conn->channel())) {}

HealthEndpoint::~HealthEndpoint() { Wait(); }

void HealthEndpoint::CheckAsync(std::function<void(httpserver::Response)> done) {
  struct Call {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    std::function<void(httpserver::Response)> done;
  };
  auto* call = new Call;
  call->done = std::move(done);
  conn_->Authorize(&call->ctx);
  client::SetDeadline(&call->ctx, absl::FromChrono(timeout_));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
  }
  stub_->async()->Check(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status s) {
    call->done(Answer(s, call->resp));
    delete call;
    std::lock_guard<std::mutex> lock(mu_);
    if (--in_flight_ == 0) cv_.notify_all();
  });
}

void HealthEndpoint::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return in_flight_ == 0; });
}

}  // namespace switchboard::gateway
