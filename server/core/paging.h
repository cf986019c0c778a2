#pragma once
// Page sizes and opaque page tokens for List RPCs (AIP-158): a token is the
// web-safe base64 of the collection it pages (one per List RPC) and the last
// name returned, tagged so that garbage is recognised and a token of one List
// RPC is refused by another.

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
// `collection` names what is paged ("operations", "blobs"); no ':' in it.
std::string EncodePageToken(absl::string_view collection, absl::string_view last_name);
// "" decodes to "" (first page); anything not made by EncodePageToken for
// the same collection is INVALID_ARGUMENT.
absl::StatusOr<std::string> DecodePageToken(absl::string_view collection, absl::string_view token);

}  // namespace switchboard::core
