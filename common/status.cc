#include "common/status.h"

#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

// The largest n <= want such that text[0, n) ends on a UTF-8 boundary.
size_t HeadLength(absl::string_view text, size_t want) {
  if (want >= text.size()) return text.size();
  while (want > 0 && (static_cast<unsigned char>(text[want]) & 0xC0) == 0x80) --want;
  return want;
}

// The smallest start >= want such that text[start, end) starts on a boundary.
size_t TailStart(absl::string_view text, size_t want) {
  while (want < text.size() && (static_cast<unsigned char>(text[want]) & 0xC0) == 0x80) ++want;
  return want;
}

}  // namespace

std::string Echo(absl::string_view value) {
  if (value.size() <= kMaxEchoedValue) return std::string(value);
  const size_t head = HeadLength(value, kMaxEchoedValue);
  return absl::StrCat(value.substr(0, head), "\xE2\x80\xA6(", value.size() - head, " more bytes)");
}

std::string CutMessage(absl::string_view message) {
  if (message.size() <= kMaxErrorMessage) return std::string(message);
  const size_t head = HeadLength(message, kMaxErrorMessage * 2 / 3);
  const size_t tail = TailStart(message, message.size() - kMaxErrorMessage / 3);
  return absl::StrCat(message.substr(0, head), "\xE2\x80\xA6(", tail - head, " bytes cut)\xE2\x80\xA6",
                      message.substr(tail));
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), CutMessage(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

const char* CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return "OK";
    case absl::StatusCode::kCancelled: return "CANCELLED";
    case absl::StatusCode::kUnknown: return "UNKNOWN";
    case absl::StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound: return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case absl::StatusCode::kAborted: return "ABORTED";
    case absl::StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case absl::StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal: return "INTERNAL";
    case absl::StatusCode::kUnavailable: return "UNAVAILABLE";
    case absl::StatusCode::kDataLoss: return "DATA_LOSS";
    case absl::StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

}  // namespace switchboard
