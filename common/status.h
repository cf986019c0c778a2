#pragma once
// Error handling shared by every binary: the RETURN_IF_ERROR / ASSIGN_OR_RETURN
// macros that Abseil 20220623 does not ship, and the one place where
// absl::Status becomes grpc::Status and back.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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
// identical; the message is kept; payloads become trailing details in the
// message only when they carry a resume point (see watch streams).
grpc::Status ToGrpcStatus(const absl::Status& status);

// For clients: grpc::Status to absl::Status, keeping code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Human name of a code ("INVALID_ARGUMENT").
const char* CodeName(absl::StatusCode code);

}  // namespace switchboard
