#include "wire/managed_app.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "wire/json_util.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr size_t kMaxApplicationIdLength = 1024;
constexpr char kValidPairs[] =
    "valid pairs are PUT Accepted/Succeeded/Failed, PATCH Succeeded, DELETE Deleting/Deleted/Failed";

struct TypeName {
  v1::ManagedAppEventType type;
  const char* name;
};
constexpr TypeName kTypes[] = {{v1::PUT, "PUT"}, {v1::PATCH, "PATCH"}, {v1::DELETE, "DELETE"}};

struct StateName {
  v1::ProvisioningState state;
  const char* name;
};
constexpr StateName kStates[] = {{v1::PROVISIONING_ACCEPTED, "Accepted"},
                                 {v1::PROVISIONING_SUCCEEDED, "Succeeded"},
                                 {v1::PROVISIONING_FAILED, "Failed"},
                                 {v1::PROVISIONING_DELETING, "Deleting"},
                                 {v1::PROVISIONING_DELETED, "Deleted"}};

// An optional string member: absent or null is "", anything else but a
// string is an error.
absl::Status OptionalString(const json& object, absl::string_view key, absl::string_view field, std::string* out) {
  const json* m = FindMember(object, key);
  if (!m) return absl::OkStatus();
  if (!m->is_string()) return FieldError(field, absl::StrCat("must be a string, got ", JsonTypeName(*m)));
  *out = m->get_ref<const std::string&>();
  return absl::OkStatus();
}

// An optional object member: nullptr when absent or null.
absl::StatusOr<const json*> OptionalObject(const json& object, absl::string_view key, absl::string_view field) {
  const json* m = FindMember(object, key);
  if (!m) return nullptr;
  if (!m->is_object()) return FieldError(field, absl::StrCat("must be a JSON object, got ", JsonTypeName(*m)));
  return m;
}

absl::StatusOr<std::string> NormalizeApplicationId(std::string id) {
  if (id.empty()) return FieldError("applicationId", "must not be empty");
  if (id.size() > kMaxApplicationIdLength) {
    return FieldError("applicationId", absl::StrCat("longer than ", kMaxApplicationIdLength, " characters"));
  }
  if (id.front() != '/') id.insert(id.begin(), '/');
  std::string lower = absl::AsciiStrToLower(id);
  size_t marker = lower.find("/providers/microsoft.solutions/applications/");
  if (!absl::StartsWith(lower, "/subscriptions/") || marker == std::string::npos ||
      marker + strlen("/providers/microsoft.solutions/applications/") >= lower.size() ||
      absl::StrContains(id, "//") || absl::StrContains(id, "?") || absl::StrContains(id, "#")) {
    return FieldError("applicationId",
                      absl::StrCat("'", id,
                                   "' is not a managed application id; expected /subscriptions/<sub>/resourceGroups/"
                                   "<rg>/providers/Microsoft.Solutions/applications/<name>"));
  }
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return FieldError("applicationId", "must not contain control characters");
    }
  }
  return id;
}

std::string FormatDotNetTime(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixSeconds(ts.seconds());
  // %4Y: years before 1000 keep four digits, as ParseRfc3339 needs them.
  std::string out = absl::FormatTime("%4Y-%m-%dT%H:%M:%S", t, absl::UTCTimeZone());
  if (ts.nanos() % 100 == 0) {
    absl::StrAppend(&out, absl::StrFormat(".%07d", ts.nanos() / 100));
  } else {
    absl::StrAppend(&out, absl::StrFormat(".%09d", ts.nanos()));
  }
  out.push_back('Z');
  return out;
}

}  // namespace

const char* ManagedAppEventTypeName(v1::ManagedAppEventType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t.name;
  }
  return "";
}

const char* ProvisioningStateName(v1::ProvisioningState state) {
  for (const auto& s : kStates) {
    if (s.state == state) return s.name;
  }
  return "";
}

bool IsValidManagedAppPair(v1::ManagedAppEventType type, v1::ProvisioningState state) {
  switch (type) {
    case v1::PUT:
      return state == v1::PROVISIONING_ACCEPTED || state == v1::PROVISIONING_SUCCEEDED ||
             state == v1::PROVISIONING_FAILED;
    case v1::PATCH:
      return state == v1::PROVISIONING_SUCCEEDED;
    case v1::DELETE:
      return state == v1::PROVISIONING_DELETING || state == v1::PROVISIONING_DELETED ||
             state == v1::PROVISIONING_FAILED;
    default:
      return false;
  }
}

absl::StatusOr<v1::ManagedAppNotification> ManagedAppNotificationFromJson(absl::string_view text) {
  ASSIGN_OR_RETURN(json in, ParseJson(text));
  if (!in.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("body: must be a JSON object, got ", JsonTypeName(in)));
  }
  v1::ManagedAppNotification out;
  {
    ASSIGN_OR_RETURN(std::string type, RequireString(in, "eventType", "eventType"));
    for (const auto& t : kTypes) {
      if (absl::EqualsIgnoreCase(type, t.name)) out.set_event_type(t.type);
    }
    if (out.event_type() == v1::MANAGED_APP_EVENT_TYPE_UNSPECIFIED) {
      return FieldError("eventType", absl::StrCat("'", type, "' is not one of PUT, PATCH, DELETE"));
    }
  }
  {
    ASSIGN_OR_RETURN(std::string state, RequireString(in, "provisioningState", "provisioningState"));
    for (const auto& s : kStates) {
      if (absl::EqualsIgnoreCase(state, s.name)) out.set_provisioning_state(s.state);
    }
    if (out.provisioning_state() == v1::PROVISIONING_STATE_UNSPECIFIED) {
      return FieldError("provisioningState",
                        absl::StrCat("'", state, "' is not one of Accepted, Succeeded, Failed, Deleting, Deleted"));
    }
    if (!IsValidManagedAppPair(out.event_type(), out.provisioning_state())) {
      return FieldError("provisioningState",
                        absl::StrCat("'", ProvisioningStateName(out.provisioning_state()),
                                     "' is not valid with eventType ", ManagedAppEventTypeName(out.event_type()),
                                     "; ", kValidPairs));
    }
  }
  {
    ASSIGN_OR_RETURN(std::string id, RequireString(in, "applicationId", "applicationId"));
    ASSIGN_OR_RETURN(*out.mutable_application_id(), NormalizeApplicationId(std::move(id)));
  }
  {
    ASSIGN_OR_RETURN(std::string time, RequireString(in, "eventTime", "eventTime"));
    auto ts = ParseRfc3339(time);
    if (!ts.ok()) return FieldError("eventTime", ts.status().message());
    *out.mutable_event_time() = *ts;
  }
  RETURN_IF_ERROR(OptionalString(in, "applicationDefinitionId", "applicationDefinitionId",
                                 out.mutable_application_definition_id()));
  {
    ASSIGN_OR_RETURN(const json* billing, OptionalObject(in, "billingDetails", "billingDetails"));
    if (billing) {
      RETURN_IF_ERROR(OptionalString(*billing, "resourceUsageId", "billingDetails.resourceUsageId",
                                     out.mutable_billing_details()->mutable_resource_usage_id()));
    }
  }
  {
    ASSIGN_OR_RETURN(const json* plan, OptionalObject(in, "plan", "plan"));
    if (plan) {
      v1::Plan* p = out.mutable_plan();
      RETURN_IF_ERROR(OptionalString(*plan, "publisher", "plan.publisher", p->mutable_publisher()));
      RETURN_IF_ERROR(OptionalString(*plan, "product", "plan.product", p->mutable_product()));
      RETURN_IF_ERROR(OptionalString(*plan, "name", "plan.name", p->mutable_name()));
      RETURN_IF_ERROR(OptionalString(*plan, "version", "plan.version", p->mutable_version()));
    }
  }
  {
    ASSIGN_OR_RETURN(const json* error, OptionalObject(in, "error", "error"));
    if (error) {
      v1::ManagedAppError* e = out.mutable_error();
      RETURN_IF_ERROR(OptionalString(*error, "code", "error.code", e->mutable_code()));
      RETURN_IF_ERROR(OptionalString(*error, "message", "error.message", e->mutable_message()));
      if (const json* details = FindMember(*error, "details")) {
        if (!details->is_array()) {
          return FieldError("error.details", absl::StrCat("must be a JSON array, got ", JsonTypeName(*details)));
        }
        for (size_t i = 0; i < details->size(); ++i) {
          std::string prefix = absl::StrCat("error.details[", i, "]");
          const json& d = (*details)[i];
          if (!d.is_object()) {
            return FieldError(prefix, absl::StrCat("must be a JSON object, got ", JsonTypeName(d)));
          }
          v1::ErrorDetail* detail = e->add_details();
          RETURN_IF_ERROR(OptionalString(d, "code", FieldPath(prefix, "code"), detail->mutable_code()));
          RETURN_IF_ERROR(OptionalString(d, "message", FieldPath(prefix, "message"), detail->mutable_message()));
        }
      }
    }
  }
  return out;
}

std::string ManagedAppNotificationToJson(const v1::ManagedAppNotification& n) {
  ordered_json out = ordered_json::object();
  out["eventType"] = ManagedAppEventTypeName(n.event_type());
  out["applicationId"] = n.application_id();
  out["eventTime"] = FormatDotNetTime(n.event_time());
  out["provisioningState"] = ProvisioningStateName(n.provisioning_state());
  if (!n.application_definition_id().empty()) out["applicationDefinitionId"] = n.application_definition_id();
  if (n.has_billing_details()) {
    out["billingDetails"] = ordered_json{{"resourceUsageId", n.billing_details().resource_usage_id()}};
  }
  if (n.has_plan()) {
    out["plan"] = ordered_json{{"publisher", n.plan().publisher()},
                               {"product", n.plan().product()},
                               {"name", n.plan().name()},
                               {"version", n.plan().version()}};
  }
  if (n.has_error()) {
    ordered_json e = ordered_json::object();
    e["code"] = n.error().code();
    e["message"] = n.error().message();
    if (n.error().details_size() > 0) {
      ordered_json details = ordered_json::array();
      for (const auto& d : n.error().details()) details.push_back(ordered_json{{"code", d.code()}, {"message", d.message()}});
      e["details"] = std::move(details);
    }
    out["error"] = std::move(e);
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace switchboard::wire
