#include "gateway/endpoints/health.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace switchboard::gateway {

http::Response HealthEndpoint::Check() const {
  auto stub = grpc::health::v1::Health::NewStub(conn_->channel());
  grpc::ClientContext ctx;
  conn_->Authorize(&ctx);
  client::SetDeadline(&ctx, absl::Seconds(2));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) {
    return http::Response::Text(
        503, absl::StrCat("switchboardd unreachable: ", CodeName(static_cast<absl::StatusCode>(s.error_code())), ": ",
                          s.error_message()));
  }
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return http::Response::Text(503, "switchboardd is not serving");
  }
  return http::Response::Text(200, "ok");
}

}  // namespace switchboard::gateway
