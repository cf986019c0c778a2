#pragma once
// Azure's naming rules, checked before anything touches a store. Each check
// returns INVALID_ARGUMENT naming `field` and saying what to fix.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/blob/blob_store.h"

namespace switchboard::blob {

// 3-63 characters of [a-z0-9-], starting and ending with a letter or digit,
// no "--".
absl::Status ValidateContainerName(absl::string_view name, absl::string_view field);
// 1-1024 characters, no empty, "." or ".." segment, no backslash or control
// character.
absl::Status ValidateBlobName(absl::string_view name, absl::string_view field);
// 3-24 characters of [a-z0-9].
absl::Status ValidateAccountName(absl::string_view name, absl::string_view field);
// Names are C# identifiers; names and values together at most 8 KB; values
// are printable ASCII (they travel as HTTP headers).
absl::Status ValidateMetadata(const Metadata& metadata, absl::string_view field);

inline constexpr size_t kMaxMetadataBytes = 8 * 1024;

}  // namespace switchboard::blob
