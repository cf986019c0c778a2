#include "server/notification/managed_apps.h"

#include <memory>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "server/core/fingerprint.h"
#include "server/core/list_page.h"

namespace switchboard::notification {
namespace {

using google::protobuf::util::TimeUtil;
using v1::Application;

constexpr char kScopeRecord[] = "notification.RecordManagedAppNotification";

bool SameEvent(const v1::ManagedAppNotification& a, const v1::ManagedAppNotification& b) {
  return a.event_type() == b.event_type() && a.provisioning_state() == b.provisioning_state() &&
         a.event_time().seconds() == b.event_time().seconds() && a.event_time().nanos() == b.event_time().nanos();
}

bool Before(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
  return a.seconds() < b.seconds() || (a.seconds() == b.seconds() && a.nanos() < b.nanos());
}

bool IsFailure(Application::State s) { return s == Application::FAILED || s == Application::DELETE_FAILED; }

// Folds `n` into `app`; returns false (and changes nothing) for a duplicate.
bool Apply(Application& app, v1::ManagedAppNotification n, bool* stale) {
  for (const auto& h : app.history()) {
    if (SameEvent(h, n)) return false;
  }
  *stale = app.state() != Application::STATE_UNSPECIFIED && Before(n.event_time(), app.state_time());
  n.set_stale(*stale);
  *app.add_history() = n;
  *app.mutable_update_time() = n.receive_time();
  // Identity fields: the newest wins, and a stale notification fills gaps.
  if (!n.application_definition_id().empty() && (!*stale || app.application_definition_id().empty())) {
    app.set_application_definition_id(n.application_definition_id());
  }
  if (n.has_billing_details() && (!*stale || !app.has_billing_details())) {
    *app.mutable_billing_details() = n.billing_details();
  }
  if (n.has_plan() && (!*stale || !app.has_plan())) *app.mutable_plan() = n.plan();
  if (*stale) return true;
  app.set_state(StateForPair(n.event_type(), n.provisioning_state()));
  *app.mutable_state_time() = n.event_time();
  if (IsFailure(app.state())) {
    *app.mutable_error() = n.error();
  } else {
    app.clear_error();
  }
  return true;
}

bool PlanMatches(const v1::Plan& want, const v1::Plan& have) {
  return (want.publisher().empty() || want.publisher() == have.publisher()) &&
         (want.product().empty() || want.product() == have.product()) &&
         (want.name().empty() || want.name() == have.name()) &&
         (want.version().empty() || want.version() == have.version());
}

}  // namespace

Application::State StateForPair(v1::ManagedAppEventType type, v1::ProvisioningState state) {
  switch (type) {
    case v1::PUT:
      if (state == v1::PROVISIONING_ACCEPTED) return Application::ACCEPTED;
      if (state == v1::PROVISIONING_SUCCEEDED) return Application::SUCCEEDED;
      if (state == v1::PROVISIONING_FAILED) return Application::FAILED;
      break;
    case v1::PATCH:
      if (state == v1::PROVISIONING_SUCCEEDED) return Application::SUCCEEDED;
      break;
    case v1::DELETE:
      if (state == v1::PROVISIONING_DELETING) return Application::DELETING;
      if (state == v1::PROVISIONING_DELETED) return Application::DELETED;
      if (state == v1::PROVISIONING_FAILED) return Application::DELETE_FAILED;
      break;
    default:
      break;
  }
  return Application::STATE_UNSPECIFIED;
}

absl::StatusOr<std::string> NormalizeApplicationId(absl::string_view id) {
  if (id.empty()) {
    return absl::InvalidArgumentError(
        "notification.application_id is required: the full resource id "
        "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Solutions/applications/<name>");
  }
  std::string full = absl::StartsWith(id, "/") ? std::string(id) : absl::StrCat("/", id);
  std::vector<absl::string_view> parts = absl::StrSplit(absl::string_view(full).substr(1), '/');
  bool ok = parts.size() == 8 && absl::EqualsIgnoreCase(parts[0], "subscriptions") &&
            absl::EqualsIgnoreCase(parts[2], "resourceGroups") && absl::EqualsIgnoreCase(parts[4], "providers") &&
            absl::EqualsIgnoreCase(parts[5], "Microsoft.Solutions") &&
            absl::EqualsIgnoreCase(parts[6], "applications");
  for (absl::string_view p : parts) ok = ok && !p.empty();
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "notification.application_id '", id,
        "' is not a managed application id; expected "
        "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Solutions/applications/<name>"));
  }
  return full;
}

std::string ApplicationName(absl::string_view normalized_id) {
  return absl::StrCat("applications", normalized_id);
}

absl::Status ValidateNotification(const v1::ManagedAppNotification& n) {
  if (StateForPair(n.event_type(), n.provisioning_state()) == Application::STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "notification.event_type/provisioning_state: ", v1::ManagedAppEventType_Name(n.event_type()), " ",
        v1::ProvisioningState_Name(n.provisioning_state()),
        " is not a pair Azure sends; valid pairs are PUT Accepted|Succeeded|Failed, PATCH Succeeded, "
        "DELETE Deleting|Deleted|Failed"));
  }
  RETURN_IF_ERROR(NormalizeApplicationId(n.application_id()).status());
  if (!n.has_event_time()) {
    return absl::InvalidArgumentError("notification.event_time is required (the eventTime Azure sent)");
  }
  if (n.event_time().seconds() < TimeUtil::kTimestampMinSeconds ||
      n.event_time().seconds() > TimeUtil::kTimestampMaxSeconds || n.event_time().nanos() < 0 ||
      n.event_time().nanos() > 999999999) {
    return absl::InvalidArgumentError("notification.event_time is out of range; send an ISO 8601 time");
  }
  for (int i = 0; i < n.error().details_size(); ++i) {
    if (n.error().details(i).code().empty() && n.error().details(i).message().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("notification.error.details[", i, "] is empty; give a code or a message"));
    }
  }
  return absl::OkStatus();
}

void ManagedAppEngine::Record(const v1::RecordManagedAppNotificationRequest& request, RecordDone done) {
  if (!request.has_notification()) {
    return done(absl::InvalidArgumentError("notification is required"));
  }
  if (absl::Status s = ValidateNotification(request.notification()); !s.ok()) return done(s);
  v1::ManagedAppNotification n = request.notification();
  n.set_application_id(*NormalizeApplicationId(n.application_id()));
  n.clear_stale();
  *n.mutable_receive_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  const std::string name = ApplicationName(n.application_id());

  core::Mutation m;
  m.scope = kScopeRecord;
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request.notification());
  auto response = std::make_shared<v1::RecordManagedAppNotificationResponse>();
  m.prepare = [n, name, response, request_id = request.request_id()](core::TxnReader& txn,
                                                                       core::Mutation& self) -> absl::Status {
    Application app;
    ASSIGN_OR_RETURN(std::optional<std::string> stored, txn.Get(kApplicationKind, name));
    if (stored.has_value()) {
      if (!app.ParseFromString(*stored)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
    } else {
      app.set_name(name);
      app.set_application_id(n.application_id());
      *app.mutable_create_time() = n.receive_time();
    }
    bool stale = false;
    if (!Apply(app, n, &stale)) {
      response->set_duplicate(true);
      *response->mutable_application() = std::move(app);
      return absl::OkStatus();
    }
    response->set_stale(stale);
    v1::NotificationEvent event;
    event.set_request_id(request_id);
    *event.mutable_application() = app;
    self.writes.push_back({kApplicationKind, name, app.SerializeAsString(), false});
    self.events.push_back({"notification", kApplicationKind, name, app.application_definition_id(),
                           event.SerializeAsString()});
    *response->mutable_application() = std::move(app);
    return absl::OkStatus();
  };
  m.make_response = [response](int64_t) { return response->SerializeAsString(); };
  store_->CommitAsync(std::move(m), [done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    if (!r.ok()) return done(r.status());
    v1::RecordManagedAppNotificationResponse resp;
    if (!resp.ParseFromString(r->response)) return done(absl::DataLossError("stored response is corrupt"));
    if (r->replayed) resp.set_duplicate(true);
    done(core::MaybeReplayed<v1::RecordManagedAppNotificationResponse>(std::move(resp), r->replayed));
  });
}

absl::StatusOr<Application> ManagedAppEngine::Get(absl::string_view name) const {
  if (!absl::StartsWith(name, "applications/")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name '", Echo(name), "' must be applications/ followed by the application resource id"));
  }
  ASSIGN_OR_RETURN(std::string id, NormalizeApplicationId(name.substr(strlen("applications"))));
  return core::GetParsed<Application>(*store_, kApplicationKind, ApplicationName(id), "application");
}

absl::StatusOr<v1::ListApplicationsResponse> ManagedAppEngine::List(const v1::ListApplicationsRequest& req) const {
  if (req.state() != Application::STATE_UNSPECIFIED && !Application::State_IsValid(req.state())) {
    return absl::InvalidArgumentError(absl::StrCat("state ", req.state(), " is not an Application.State"));
  }
  std::function<bool(const Application&)> keep = [&req](const Application& a) {
    return (req.state() == Application::STATE_UNSPECIFIED || a.state() == req.state()) &&
           (req.application_definition_id().empty() ||
            absl::EqualsIgnoreCase(req.application_definition_id(), a.application_definition_id())) &&
           (!req.has_plan() || PlanMatches(req.plan(), a.plan()));
  };
  ASSIGN_OR_RETURN(auto page, core::ListPage<Application>(*store_, kApplicationKind, req.page_size(),
                                                          req.page_token(), keep));
  v1::ListApplicationsResponse resp;
  for (auto& a : page.items) *resp.add_applications() = std::move(a);
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

}  // namespace switchboard::notification
