#include "gateway/endpoints/managed_app.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/proto_bytes.h"
#include "common/status.h"
#include "wire/managed_app.h"
#include "gateway/endpoints/status_map.h"

namespace switchboard::gateway {

ManagedAppEndpoint::ManagedAppEndpoint(const client::Connection* conn, std::string sig, Metrics* metrics)
    : conn_(conn), sig_(std::move(sig)), metrics_(metrics), stub_(v1::NotificationService::NewStub(conn->channel())) {}

std::string ManagedAppEndpoint::RequestIdFor(const v1::ManagedAppNotification& n) {
  return absl::StrCat("managedapp-", Sha256Hex(DeterministicBytes(n)));
}

httpserver::Response ManagedAppEndpoint::Handle(const httpserver::Request& req) const {
  if (req.method != "POST") return httpserver::Response::Text(405, "use POST /resource?sig=...");
  if (sig_.empty()) {
    return httpserver::Response::Text(404, "the managed-app webhook is disabled: configure managedapp_sig");
  }
  // Compare the whole secret in constant time; a missing sig compares as "".
  if (!ConstantTimeEquals(req.Query("sig"), sig_)) {
    metrics_->RecordError("managedapp_auth");
    // Who and where, never what was given; at most one line a second.
    if (auto dropped = auth_log_.Allow()) {
      log::Warn("authentication failed", {{"endpoint", "POST /resource"},
                                          {"remote", req.remote},
                                          {"problem", req.query.count("sig") ? "sig parameter (wrong)" : "missing"},
                                          {"not_logged_since_last", *dropped}});
    }
    return httpserver::Response::Text(401, "sig: missing or wrong");
  }
  auto n = wire::ManagedAppNotificationFromJson(req.body);
  if (!n.ok()) {
    metrics_->RecordError("managedapp_decode");
    return httpserver::Response::Text(400, std::string(n.status().message()));
  }
  v1::RecordManagedAppNotificationRequest request;
  request.set_request_id(RequestIdFor(*n));
  *request.mutable_notification() = std::move(*n);
  v1::RecordManagedAppNotificationResponse response;
  auto ctx = conn_->NewUnaryContext();
  grpc::Status s = stub_->RecordManagedAppNotification(ctx.get(), request, &response);
  int code = HttpStatusFor(s);
  if (!s.ok()) {
    metrics_->RecordError(code == 503 ? "managedapp_unavailable" : "managedapp_rejected");
    log::Warn("managed-app notification not recorded",
              {{"code", CodeName(static_cast<absl::StatusCode>(s.error_code()))},
               {"error", s.error_message()},
               {"application_id", request.notification().application_id()}});
    if (code == 503) {
      return httpserver::Response::Text(503, absl::StrCat("not recorded, retry later: ",
                                                    CodeName(static_cast<absl::StatusCode>(s.error_code())), ": ",
                                                    s.error_message()));
    }
    return httpserver::Response::Text(code, s.error_message());
  }
  nlohmann::json out = {{"application", response.application().name()},
                        {"state", v1::Application::State_Name(response.application().state())},
                        {"duplicate", response.duplicate()},
                        {"stale", response.stale()}};
  return httpserver::Response::Json(200, out.dump());
}

}  // namespace switchboard::gateway
