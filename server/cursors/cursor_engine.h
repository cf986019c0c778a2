#pragma once
// Durable named cursors (proto/switchboard/v1/cursors.proto), free of gRPC.
// Stored as resources of kind "cursor" in the store; commits append no event.

#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/store.h"
#include "switchboard/v1/cursors.pb.h"

namespace switchboard::cursors {

// INVALID_ARGUMENT unless `name` is "cursors/{id}" with a valid id.
absl::Status ValidateCursorName(absl::string_view name);

class CursorEngine {
 public:
  explicit CursorEngine(core::Store* store) : store_(store) {}

  absl::StatusOr<v1::Cursor> Get(absl::string_view name) const;
  // Forward-only; see CommitCursor in the proto.
  void Commit(const v1::CommitCursorRequest& request, std::function<void(absl::StatusOr<v1::Cursor>)> done);

 private:
  core::Store* store_;
};

}  // namespace switchboard::cursors
