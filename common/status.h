#pragma once
// Error handling shared by every binary: the RETURN_IF_ERROR / ASSIGN_OR_RETURN
// macros that Abseil 20220623 does not ship, and the one place where
// absl::Status becomes grpc::Status and back.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include <string>

#define SB_CONCAT_INNER_(a, b) a##b
#define SB_CONCAT_(a, b) SB_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status sb_status_ = (expr);      \
    if (!sb_status_.ok()) return sb_status_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  SB_ASSIGN_OR_RETURN_IMPL_(SB_CONCAT_(sb_statusor_, __LINE__), lhs, expr)

#define SB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

namespace switchboard {

// The one mapping from absl::Status to grpc::Status. Codes are numerically
// identical; the message is kept, but one longer than kMaxErrorMessage is
// cut in its middle (what to fix comes first and last), so that an echoed
// input never makes a client's metadata limit (8 KB in grpcio) hide the error.
grpc::Status ToGrpcStatus(const absl::Status& status);

inline constexpr size_t kMaxErrorMessage = 1024;
// The longest value an error message echoes whole.
inline constexpr size_t kMaxEchoedValue = 200;

// `value` for an error message: whole up to kMaxEchoedValue bytes, else its
// start (cut on a UTF-8 boundary) and "…(N more bytes)".
std::string Echo(absl::string_view value);
// `message` cut to at most about kMaxErrorMessage bytes, as ToGrpcStatus does.
std::string CutMessage(absl::string_view message);

// For clients: grpc::Status to absl::Status, keeping code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Human name of a code ("INVALID_ARGUMENT").
const char* CodeName(absl::StatusCode code);

}  // namespace switchboard
