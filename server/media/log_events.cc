#include "server/media/log_events.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/azure/crypto.h"
#include "common/status.h"

namespace switchboard::media {
namespace {

std::string FormatGuid(std::string b) {
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string h = absl::BytesToHexString(b.substr(0, 16));
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-", h.substr(16, 4), "-",
                      h.substr(20, 12));
}

}  // namespace

const std::vector<LogEventId>& AllLogEventIds() {
  using namespace log_events;
  static const std::vector<LogEventId> all = {
      kMetadataFailed, kAnalysisFailed, kAnalysisNotMedia, kCopyFailed, kDeleteFailed,
      kSasFailed, kTierFailed, kContainerCreateFailed, kContainerDeleteFailed, kContainerAccessFailed,
      kRollKeyFailed, kEncodeFailed, kEncodeInputFailed, kEncodeOutputFailed, kEncodeCancelFailed,
      kRequestInvalid, kRequestUnknownType, kResumeFailed};
  return all;
}

std::string NewGuid() { return FormatGuid(azure::RandomBytes(16)); }

v1::Failure MakeFailure(const LogEventId& id, const absl::Status& status) {
  v1::Failure f;
  f.set_log_event_id(id.id);
  f.set_log_event_message(std::string(status.message()));
  f.set_log_record_id(NewGuid());
  f.set_event_handler_class_name(id.handler);
  // Stable per handler: a name-based GUID from the SHA-256 of its name.
  std::string digest;
  std::string hex = azure::Sha256Hex(absl::StrCat("switchboard.media.", id.handler));
  digest = absl::HexStringToBytes(hex);
  f.set_handler_id(FormatGuid(digest));
  f.set_code(CodeName(status.code()));
  return f;
}

}  // namespace switchboard::media
