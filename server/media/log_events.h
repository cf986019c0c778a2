#pragma once
// Stable numeric log event ids of media failures (docs/wire-formats.md section 4):
//   id = level * 100000 + subsystem * 1000 + index
// level: 1 information, 2 warning, 3 error, 4 critical.
// subsystem: 10 metadata, 11 analysis, 12 copy, 13 delete, 14 SAS,
// 15 tier, 16 containers, 17 storage keys, 20 encode, 30 request decoding
// and resuming.
// Ids never change meaning once published; new ones get new indexes.
// docs/media.md has the table; a test checks that ids are unique.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "switchboard/v1/common.pb.h"

namespace switchboard::media {

struct LogEventId {
  int id;
  const char* name;
  // The Gridwich-style handler that reports it.
  const char* handler;
};

namespace log_events {
inline constexpr LogEventId kMetadataFailed{310001, "BlobMetadataCreateFailed", "BlobMetadataCreateHandler"};
inline constexpr LogEventId kAnalysisFailed{311001, "BlobAnalysisFailed", "BlobAnalysisCreateHandler"};
inline constexpr LogEventId kAnalysisNotMedia{311002, "BlobAnalysisNotMedia", "BlobAnalysisCreateHandler"};
inline constexpr LogEventId kCopyFailed{312001, "BlobCopyFailed", "BlobCopyHandler"};
inline constexpr LogEventId kDeleteFailed{313001, "BlobDeleteFailed", "BlobDeleteHandler"};
inline constexpr LogEventId kSasFailed{314001, "BlobSasUrlCreateFailed", "BlobSasUrlCreateHandler"};
inline constexpr LogEventId kTierFailed{315001, "BlobTierChangeFailed", "BlobTierChangeHandler"};
inline constexpr LogEventId kContainerCreateFailed{316001, "ContainerCreateFailed", "ContainerCreateHandler"};
inline constexpr LogEventId kContainerDeleteFailed{316002, "ContainerDeleteFailed", "ContainerDeleteHandler"};
inline constexpr LogEventId kContainerAccessFailed{316003, "ContainerAccessChangeFailed",
                                                   "ContainerAccessChangeHandler"};
inline constexpr LogEventId kRollKeyFailed{317001, "StorageKeyRollFailed", "StorageKeyRollHandler"};
inline constexpr LogEventId kEncodeFailed{320001, "EncodeFailed", "EncodeCreateHandler"};
inline constexpr LogEventId kEncodeInputFailed{320002, "EncodeInputUnavailable", "EncodeCreateHandler"};
inline constexpr LogEventId kEncodeOutputFailed{320003, "EncodeOutputUploadFailed", "EncodeCreateHandler"};
inline constexpr LogEventId kEncodeCancelFailed{320004, "EncodeCancelFailed", "EncodeCancelHandler"};
// An operation accepted before a restart whose request no longer validates
// when it is resumed (e.g. its account left the configuration).
inline constexpr LogEventId kResumeFailed{330001, "OperationResumeFailed", "MediaOperationResumer"};
inline constexpr LogEventId kRequestInvalid{230001, "RequestInvalid", "EventGridRequestHandler"};
inline constexpr LogEventId kRequestUnknownType{230002, "RequestUnknownEventType", "EventGridRequestHandler"};
}  // namespace log_events

// Every id above, for the uniqueness test and the docs.
const std::vector<LogEventId>& AllLogEventIds();

// A docs/wire-formats.md failure record: new logRecordId GUID, handler id derived from
// the handler name (stable), code from `status`.
v1::Failure MakeFailure(const LogEventId& id, const absl::Status& status);

// A random version-4 GUID.
std::string NewGuid();

}  // namespace switchboard::media
