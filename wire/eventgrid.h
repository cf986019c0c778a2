#pragma once
// Event Grid (docs/wire-formats.md section 4): Gridwich request events to MediaService
// requests, and MediaEvents back to Gridwich response events. Pure
// functions, no network: used by the gateway and by `sbctl media exec`.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/media.pb.h"
#include "wire/gridwich.h"

namespace switchboard::wire {

// Event Grid bodies are arrays of at most 1 MB.
inline constexpr size_t kMaxEventGridBody = 1 << 20;

// logEventIds of request decoding (the Gridwich table, wire/gridwich.h).
inline constexpr int kLogRequestInvalid = log_events::kRequestInvalid.id;
inline constexpr int kLogRequestUnknownType = log_events::kRequestUnknownType.id;

struct EventGridEvent {
  std::string id;
  std::string topic;
  std::string subject;
  std::string event_type;
  std::string event_time;
  std::string data_version;
  nlohmann::json data = nlohmann::json::object();
};

// The batch: INVALID_ARGUMENT (HTTP 400) naming the event index and field
// for a body that is not an array of events, or over 1 MB.
absl::StatusOr<std::vector<EventGridEvent>> ParseEventGridBatch(absl::string_view body);

// {"validationResponse": code} for a SubscriptionValidationEvent, if the
// batch holds one.
std::optional<nlohmann::json> ValidationResponse(const std::vector<EventGridEvent>& batch);

// One request event (request.*) or storage event
// (Microsoft.Storage.BlobCreated / BlobDeleted) decoded straight into the
// MediaService request `out` (wire/media_request.h visits it): the oneof
// case set, request_id = the event id, and, but for rollkey (no ack, no
// operationContext) and storage events, event_subject = the event's subject
// and operation_context = data.operationContext. INVALID_ARGUMENT naming
// `data.<field>` for bad data; NOT_FOUND for an eventType this codec does
// not know (answer it with a response.failure). `out` is cleared first; on
// an error it holds a partial request, to be cleared or dropped.
absl::Status DecodeMediaRequest(const EventGridEvent& event, v1::MediaRequest* out);
// The same, into a new message.
absl::StatusOr<v1::MediaRequest> DecodeMediaRequest(const EventGridEvent& event);

// The operation context a decoded request carries: its operation_context;
// for a storage event the context that travelled through storage in
// data.clientRequestId (empty unless that is a JSON object); empty for a
// rollkey.
google::protobuf::Struct OperationContextOf(const v1::MediaRequest& request);

// True for request.rollkey.storage (no acknowledge, no operationContext).
bool IsRollKey(absl::string_view event_type);

// The request eventType an operation type answers ("request.blob.copy").
std::string RequestEventType(v1::OperationType type);

// True for the last event an operation produces: its success, its failure,
// the storage event that completes a copy or delete, and an encode's
// success or cancellation. A client watching one operation stops there.
bool IsFinalEvent(const v1::MediaEvent& event);

// Response events. Every field comes from the MediaEvent: the server
// records what the responses repeat from the request in MediaEvent.echo
// (the ack's subject prefix, copy.scheduled's sourceUri, tier.success's
// rehydratePriority, access.change.success's accessType, the rollkey
// events' account and keyName), and
// DecodeMediaRequest passes the request's subject on as event_subject. So
// `request` may be null (a stateless gateway publishing from the event log,
// or a storage event that arrived on its own) and the response is still
// complete. When it is given (the request event being answered), its data
// fills what an event logged before the server kept the echo lacks.
nlohmann::json AcknowledgeEvent(const EventGridEvent& request, const google::protobuf::Struct& context);
// The same as an event; `operation_context` is echoed as given.
EventGridEvent Acknowledge(const EventGridEvent& request, nlohmann::json operation_context);
// The response for one MediaEvent, or nullopt if it has none on the wire.
std::optional<EventGridEvent> ResponseEventFor(const v1::MediaEvent& event, const EventGridEvent* request);
// The same as the event's JSON: every envelope key (topic "",
// metadataVersion "1") and data.
std::optional<nlohmann::json> ResponseFor(const v1::MediaEvent& event, const EventGridEvent* request);
// The one factory of response events: a new id (a GUID), `event_type`,
// `subject` and `data` as given, the current time (RFC 3339, UTC,
// microseconds at most), dataVersion "1.0", no topic.
EventGridEvent NewResponse(std::string event_type, std::string subject, nlohmann::json data);
// An event as JSON, with every envelope key (metadataVersion "1").
nlohmann::json ToJson(const EventGridEvent& event);
// The one builder of `response.failure`: subject
// "gridwichFailure/<handler>/<logEventId>", data { operationContext (as
// given), logEventId, logEventMessage, logRecordId, logRecordUrl,
// eventHandlerClassName, handlerId } from `failure` (wire::MakeFailure).
EventGridEvent FailureEvent(const v1::Failure& failure, nlohmann::json operation_context);
// response.failure (or response.rollkey.storage.failure, with the
// request's account and keyName) for a request the service never accepted
// (decoding or validation failed), reported by `handler`
// (wire::HandlerFor(request.event_type) for a request; the gateway names
// itself for its own failures).
EventGridEvent RequestFailure(const EventGridEvent& request, nlohmann::json operation_context, int log_event_id,
                              absl::string_view message, absl::string_view handler);
// The same as JSON, the context given as a Struct.
nlohmann::json RequestFailureEvent(const EventGridEvent& request, const google::protobuf::Struct& context,
                                   int log_event_id, absl::string_view message, absl::string_view handler);
// An event's data.operationContext as it was sent (any JSON), or null.
nlohmann::json RawOperationContext(const EventGridEvent& event);

}  // namespace switchboard::wire
