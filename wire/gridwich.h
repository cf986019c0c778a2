#pragma once
// The Gridwich table (docs/wire-formats.md section 4, docs/media.md
// "logEventId scheme"): for every media operation that Event Grid can
// request, its request eventType, its v1 request message, the response
// eventTypes it produces, the Gridwich handler that reports it, that
// handler's handlerId and its logEventIds; and the one builder of failure
// records (wire::FailureEvent in wire/eventgrid.h turns one into the
// `response.failure` event). switchboardd (the
// failures it records), the gateway (requests it refuses) and sbctl all
// take names and ids from here.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/common.pb.h"
#include "switchboard/v1/media.pb.h"

namespace switchboard::wire {

// A stable numeric log event id of a media failure:
//   id = level * 100000 + subsystem * 1000 + index
// level: 1 information, 2 warning, 3 error, 4 critical.
// subsystem: 10 metadata, 11 analysis, 12 copy, 13 delete, 14 SAS, 15 tier,
// 16 containers, 17 storage keys, 20 encode, 30 request decoding and
// resuming. Ids never change meaning once published; new ones get new
// indexes. The gateway's own ids (subsystem 9) are in
// gateway/eventgrid/responses.h.
struct LogEvent {
  int id;
  const char* name;
  // The Gridwich-style handler that reports it.
  const char* handler;
};

namespace log_events {
inline constexpr LogEvent kMetadataFailed{310001, "BlobMetadataCreateFailed", "BlobMetadataCreateHandler"};
inline constexpr LogEvent kAnalysisFailed{311001, "BlobAnalysisFailed", "BlobAnalysisCreateHandler"};
inline constexpr LogEvent kAnalysisNotMedia{311002, "BlobAnalysisNotMedia", "BlobAnalysisCreateHandler"};
inline constexpr LogEvent kCopyFailed{312001, "BlobCopyFailed", "BlobCopyHandler"};
inline constexpr LogEvent kDeleteFailed{313001, "BlobDeleteFailed", "BlobDeleteHandler"};
inline constexpr LogEvent kSasFailed{314001, "BlobSasUrlCreateFailed", "BlobSasUrlCreateHandler"};
inline constexpr LogEvent kTierFailed{315001, "BlobTierChangeFailed", "BlobTierChangeHandler"};
inline constexpr LogEvent kContainerCreateFailed{316001, "ContainerCreateFailed", "ContainerCreateHandler"};
inline constexpr LogEvent kContainerDeleteFailed{316002, "ContainerDeleteFailed", "ContainerDeleteHandler"};
inline constexpr LogEvent kContainerAccessFailed{316003, "ContainerAccessChangeFailed", "ContainerAccessChangeHandler"};
inline constexpr LogEvent kRollKeyFailed{317001, "StorageKeyRollFailed", "StorageKeyRollHandler"};
inline constexpr LogEvent kEncodeFailed{320001, "EncodeFailed", "EncodeCreateHandler"};
inline constexpr LogEvent kEncodeInputFailed{320002, "EncodeInputUnavailable", "EncodeCreateHandler"};
inline constexpr LogEvent kEncodeOutputFailed{320003, "EncodeOutputUploadFailed", "EncodeCreateHandler"};
// CancelEncode (gRPC only; no Event Grid request cancels an encode).
inline constexpr LogEvent kEncodeCancelFailed{320004, "EncodeCancelFailed", "EncodeCancelHandler"};
// An operation accepted before a restart whose request no longer validates
// when it is resumed (e.g. its account left the configuration).
inline constexpr LogEvent kResumeFailed{330001, "OperationResumeFailed", "MediaOperationResumer"};
// A request event that decoding or validation refused, or whose eventType
// no operation has: reported by the Event Grid request decoder.
inline constexpr LogEvent kRequestInvalid{230001, "RequestInvalid", "EventGridRequestHandler"};
inline constexpr LogEvent kRequestUnknownType{230002, "RequestUnknownEventType", "EventGridRequestHandler"};
}  // namespace log_events

// Every id above, for the uniqueness test and the docs.
const std::vector<LogEvent>& AllLogEvents();

// The response eventTypes every operation shares.
inline constexpr char kAcknowledgeEventType[] = "response.acknowledge";
inline constexpr char kFailureEventType[] = "response.failure";

// One media operation as Gridwich names it on Event Grid.
struct GridwichOperation {
  v1::OperationType type;
  // "request.blob.copy".
  const char* request_event_type;
  // The v1 request message it decodes to ("switchboard.v1.CopyBlobRequest"),
  // and its case in MediaRequest when SubmitBatch takes it; REQUEST_NOT_SET
  // for the encodes (MediaRequest.encode), which SubmitBatch does not take.
  const char* request_message;
  v1::MediaRequest::RequestCase batch_case;
  // False for request.rollkey.storage: no response.acknowledge, and no
  // operationContext in its responses.
  bool acknowledged;
  // The response that ends it well.
  const char* success_event_type;
  // The responses between the acknowledgement and the end, in order
  // (scheduled, dispatched, processing), then any other final one
  // (an encode's canceled).
  std::vector<const char*> progress_event_types;
  // kFailureEventType, or response.rollkey.storage.failure.
  const char* failure_event_type;
  // The handler named in its failures (every one of log_events names it).
  const char* handler;
  // The failures it can report.
  std::vector<LogEvent> log_events;
};

// The twelve operations, in v1::OperationType order.
const std::vector<GridwichOperation>& GridwichOperations();
// nullptr when no operation has that type / request eventType.
const GridwichOperation* OperationFor(v1::OperationType type);
const GridwichOperation* OperationForRequest(absl::string_view request_event_type);

// The handler a request eventType is reported under: its operation's, or
// the request decoder's (EventGridRequestHandler) for any other.
const char* HandlerFor(absl::string_view request_event_type);

// A handler's handlerId: stable, derived from its name (the SHA-256 of
// "switchboard.media." + name, as a version-4-shaped GUID). The same for
// every failure of the handler, in switchboardd, the gateway and sbctl.
std::string HandlerId(absl::string_view handler);

// A failure record (docs/wire-formats.md section 4): `log_event_id`, the
// message, a new logRecordId, no logRecordUrl, `handler` and its handlerId,
// and `code` (the canonical gRPC code name of the cause).
v1::Failure MakeFailure(int log_event_id, absl::string_view handler, absl::string_view message,
                        absl::StatusCode code);
v1::Failure MakeFailure(const LogEvent& id, const absl::Status& status);

}  // namespace switchboard::wire
