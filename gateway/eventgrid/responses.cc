#include "gateway/eventgrid/responses.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/uuid.h"

namespace switchboard::gateway::eventgrid {

using nlohmann::json;

namespace {

json OperationContext(const Event& request) {
  if (request.data.is_object()) {
    auto it = request.data.find("operationContext");
    if (it != request.data.end()) return *it;
  }
  return nullptr;
}

bool IsRollKey(const Event& request) { return request.event_type == "request.rollkey.storage"; }

}  // namespace

std::string StableGuid(const std::string& name) {
  std::string h = Sha256Hex(name);
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-", h.substr(16, 4), "-",
                      h.substr(20, 12));
}

Event MakeAck(const Event& request) {
  Event e = NewResponse("response.acknowledge", "",
                        json{{"operationContext", OperationContext(request)}, {"eventType", request.event_type}});
  e.subject = absl::StrCat(request.subject, "/", e.id);
  return e;
}

Event MakeFailure(const Event& request, int log_event_id, const std::string& message,
                  const std::string& handler_class) {
  if (IsRollKey(request)) {
    json data = {{"account", request.data.is_object() ? request.data.value("account", json()) : json()},
                 {"keyName", request.data.is_object() ? request.data.value("keyName", json()) : json()},
                 {"error", message}};
    Event e = NewResponse("response.rollkey.storage.failure", "", std::move(data));
    e.subject = absl::StrCat("/response.rollkey.storage.failure/", e.id);
    return e;
  }
  std::string record = NewUuid();
  json data = {{"operationContext", OperationContext(request)},
               {"logEventId", log_event_id},
               {"logEventMessage", message},
               {"logRecordId", record},
               {"logRecordUrl", ""},
               {"eventHandlerClassName", handler_class},
               {"handlerId", StableGuid(handler_class)}};
  return NewResponse("response.failure", absl::StrCat("gridwichFailure/", handler_class, "/", log_event_id),
                     std::move(data));
}

std::vector<Event> RejectionEvents(const Event& request, const grpc::Status& status,
                                   const std::string& handler_class) {
  std::vector<Event> out;
  if (absl::StartsWith(request.event_type, "request.") && !IsRollKey(request)) out.push_back(MakeAck(request));
  int id = status.error_code() == grpc::StatusCode::ALREADY_EXISTS ? kFailureConflict : kFailureRejected;
  out.push_back(MakeFailure(request, id, status.error_message(), handler_class));
  return out;
}

std::vector<Event> UnknownTypeEvents(const Event& request) {
  std::vector<Event> out;
  if (absl::StartsWith(request.event_type, "request.") && !IsRollKey(request)) out.push_back(MakeAck(request));
  out.push_back(MakeFailure(request, kFailureUnknownEventType,
                            absl::StrCat("eventType '", request.event_type,
                                         "' is unknown; see docs/wire-formats.md section 4 for the supported request types"),
                            "EventGridGateway"));
  return out;
}

}  // namespace switchboard::gateway::eventgrid
