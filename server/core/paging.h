#pragma once
// Page sizes and opaque page tokens for List RPCs (AIP-158): a token is the
// web-safe base64 of the last name returned, tagged so that garbage is
// recognised.

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace switchboard::core {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// 0 means the default; above the maximum is coerced to it; negative is
// INVALID_ARGUMENT.
absl::StatusOr<int> PageSize(int requested);
std::string EncodePageToken(absl::string_view last_name);
// "" decodes to "" (first page); anything not made by EncodePageToken is
// INVALID_ARGUMENT.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token);

}  // namespace switchboard::core
