#pragma once
// Durable named cursors (proto/switchboard/v1/cursors.proto), free of gRPC.
// Stored as resources of kind "cursor" in the store; commits append no event.
// Their leases are cursor_lease.h's.

#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/store.h"
#include "switchboard/v1/cursors.pb.h"

namespace switchboard::cursors {

// The store resource kind of a cursor (its name is the cursor's).
inline constexpr char kCursorKind[] = "cursor";

// INVALID_ARGUMENT unless `name` is "cursors/{id}" with a valid id.
absl::Status ValidateCursorName(absl::string_view name);

class CursorEngine {
 public:
  explicit CursorEngine(core::Store* store) : store_(store) {}

  absl::StatusOr<v1::Cursor> Get(absl::string_view name) const;
  // Forward-only; see CommitCursor in the proto. A commit fenced by a lease
  // (lease_token) reads the lease first (a store read, on the caller's
  // thread: cursor_lease.h); every other answer comes through `done`.
  void Commit(const v1::CommitCursorRequest& request, std::function<void(absl::StatusOr<v1::Cursor>)> done);
  // AcquireCursorLease (cursor_lease.h).
  void AcquireLease(const v1::AcquireCursorLeaseRequest& request,
                    std::function<void(absl::StatusOr<v1::CursorLease>)> done);
  // ReleaseCursorLease (cursor_lease.h).
  void ReleaseLease(const v1::ReleaseCursorLeaseRequest& request,
                    std::function<void(absl::StatusOr<v1::ReleaseCursorLeaseResponse>)> done);

 private:
  core::Store* store_;
};

}  // namespace switchboard::cursors
