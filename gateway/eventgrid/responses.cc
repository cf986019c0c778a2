#include "gateway/eventgrid/responses.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::gateway::eventgrid {

namespace {

// The events answering a request the server will never accept.
std::vector<Event> Refusal(const Event& request, int log_event_id, const std::string& message,
                           const std::string& handler) {
  std::vector<Event> out;
  if (absl::StartsWith(request.event_type, "request.") && !wire::IsRollKey(request.event_type)) {
    out.push_back(wire::Acknowledge(request, wire::RawOperationContext(request)));
  }
  out.push_back(wire::RequestFailure(request, wire::RawOperationContext(request), log_event_id, message, handler));
  return out;
}

}  // namespace

std::vector<Event> RejectionEvents(const Event& request, const grpc::Status& status,
                                   const std::string& handler_class) {
  int id = status.error_code() == grpc::StatusCode::ALREADY_EXISTS ? kFailureConflict : kFailureRejected;
  return Refusal(request, id, status.error_message(), handler_class);
}

std::vector<Event> UnknownTypeEvents(const Event& request) {
  return Refusal(request, kFailureUnknownEventType,
                 absl::StrCat("eventType '", request.event_type,
                              "' is unknown; see docs/wire-formats.md section 4 for the supported request types"),
                 kGatewayHandler);
}

}  // namespace switchboard::gateway::eventgrid
