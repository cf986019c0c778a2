#include "wire/gridwich.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/status.h"
#include "common/uuid.h"

namespace switchboard::wire {
namespace {

using v1::MediaRequest;

// 16 bytes as a GUID with the version-4 and RFC 4122 variant bits set.
std::string FormatGuid(std::string b) {
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string h = absl::BytesToHexString(b.substr(0, 16));
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-", h.substr(16, 4), "-",
                      h.substr(20, 12));
}

GridwichOperation Op(v1::OperationType type, const char* request, const char* message, MediaRequest::RequestCase c,
                     const char* success, std::vector<const char*> progress, std::vector<LogEvent> ids) {
  const bool rollkey = type == v1::ROLL_STORAGE_KEY;
  const char* handler = ids.front().handler;
  return GridwichOperation{type,      request,
                           message,   c,
                           !rollkey,  success,
                           std::move(progress), rollkey ? "response.rollkey.storage.failure" : kFailureEventType,
                           handler,   std::move(ids)};
}

}  // namespace

const std::vector<LogEvent>& AllLogEvents() {
  using namespace log_events;
  static const std::vector<LogEvent> all = {
      kMetadataFailed, kAnalysisFailed, kAnalysisNotMedia, kCopyFailed, kDeleteFailed,
      kSasFailed, kTierFailed, kContainerCreateFailed, kContainerDeleteFailed, kContainerAccessFailed,
      kRollKeyFailed, kEncodeFailed, kEncodeInputFailed, kEncodeOutputFailed, kEncodeCancelFailed,
      kRequestInvalid, kRequestUnknownType, kResumeFailed};
  return all;
}

const std::vector<GridwichOperation>& GridwichOperations() {
  using namespace log_events;
  static const std::vector<GridwichOperation> ops = {
      Op(v1::SET_BLOB_METADATA, "request.blob.metadata.create", "switchboard.v1.SetBlobMetadataRequest",
         MediaRequest::kSetBlobMetadata, "response.blob.metadata.success", {}, {kMetadataFailed}),
      Op(v1::ANALYZE_BLOB, "request.blob.analysis.create", "switchboard.v1.AnalyzeBlobRequest",
         MediaRequest::kAnalyzeBlob, "response.blob.analysis.success", {}, {kAnalysisFailed, kAnalysisNotMedia}),
      // A copy ends with the destination's storage event.
      Op(v1::COPY_BLOB, "request.blob.copy", "switchboard.v1.CopyBlobRequest", MediaRequest::kCopyBlob,
         "response.blob.created.success", {"response.blob.copy.scheduled"}, {kCopyFailed}),
      Op(v1::DELETE_BLOB, "request.blob.delete", "switchboard.v1.DeleteBlobRequest", MediaRequest::kDeleteBlob,
         "response.blob.delete.success", {"response.blob.delete.scheduled"}, {kDeleteFailed}),
      Op(v1::CREATE_SAS_URL, "request.blob.sas-url.create", "switchboard.v1.CreateSasUrlRequest",
         MediaRequest::kCreateSasUrl, "response.blob.sas-url.success", {}, {kSasFailed}),
      Op(v1::CHANGE_BLOB_TIER, "request.blob.tier.change", "switchboard.v1.ChangeBlobTierRequest",
         MediaRequest::kChangeBlobTier, "response.blob.tier.success", {}, {kTierFailed}),
      Op(v1::CREATE_CONTAINER, "request.blob.container.create", "switchboard.v1.CreateContainerRequest",
         MediaRequest::kCreateContainer, "response.blob.container.create.success", {}, {kContainerCreateFailed}),
      Op(v1::DELETE_CONTAINER, "request.blob.container.delete", "switchboard.v1.DeleteContainerRequest",
         MediaRequest::kDeleteContainer, "response.blob.container.delete.success", {}, {kContainerDeleteFailed}),
      Op(v1::CHANGE_CONTAINER_ACCESS, "request.blob.container.access.change",
         "switchboard.v1.ChangeContainerAccessRequest", MediaRequest::kChangeContainerAccess,
         "response.blob.container.access.change.success", {}, {kContainerAccessFailed}),
      Op(v1::ROLL_STORAGE_KEY, "request.rollkey.storage", "switchboard.v1.RollStorageKeyRequest",
         MediaRequest::kRollStorageKey, "response.rollkey.storage.success", {}, {kRollKeyFailed}),
      Op(v1::ENCODE_FLIP, "request.encode.flip.create", "switchboard.v1.EncodeRequest", MediaRequest::REQUEST_NOT_SET,
         "response.encode.flip.success",
         {"response.encode.flip.dispatched", "response.encode.flip.scheduled", "response.encode.flip.processing",
          "response.encode.flip.canceled"},
         {kEncodeFailed, kEncodeInputFailed, kEncodeOutputFailed}),
      Op(v1::ENCODE_CLOUDPORT, "request.encode.cloudport.create", "switchboard.v1.EncodeRequest",
         MediaRequest::REQUEST_NOT_SET, "response.encode.cloudport.success",
         {"response.encode.cloudport.dispatched", "response.encode.cloudport.scheduled",
          "response.encode.cloudport.processing", "response.encode.cloudport.canceled"},
         {kEncodeFailed, kEncodeInputFailed, kEncodeOutputFailed}),
  };
  return ops;
}

const GridwichOperation* OperationFor(v1::OperationType type) {
  for (const auto& op : GridwichOperations()) {
    if (op.type == type) return &op;
  }
  return nullptr;
}

const GridwichOperation* OperationForRequest(absl::string_view request_event_type) {
  for (const auto& op : GridwichOperations()) {
    if (request_event_type == op.request_event_type) return &op;
  }
  return nullptr;
}

const char* HandlerFor(absl::string_view request_event_type) {
  const GridwichOperation* op = OperationForRequest(request_event_type);
  return op ? op->handler : log_events::kRequestInvalid.handler;
}

std::string HandlerId(absl::string_view handler) {
  return FormatGuid(absl::HexStringToBytes(Sha256Hex(absl::StrCat("switchboard.media.", handler))));
}

v1::Failure MakeFailure(int log_event_id, absl::string_view handler, absl::string_view message,
                        absl::StatusCode code) {
  v1::Failure f;
  f.set_log_event_id(log_event_id);
  f.set_log_event_message(std::string(message));
  f.set_log_record_id(NewUuid());
  f.set_event_handler_class_name(std::string(handler));
  f.set_handler_id(HandlerId(handler));
  f.set_code(CodeName(code));
  return f;
}

v1::Failure MakeFailure(const LogEvent& id, const absl::Status& status) {
  return MakeFailure(id.id, id.handler, status.message(), status.code());
}

}  // namespace switchboard::wire
