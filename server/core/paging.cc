#include "server/core/paging.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::core {

absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_size is ", requested, "; use 0 for the default (",
                                                   kDefaultPageSize, ") or up to ", kMaxPageSize));
  }
  if (requested == 0) return kDefaultPageSize;
  return requested > kMaxPageSize ? kMaxPageSize : requested;
}

std::string EncodePageToken(absl::string_view last_name) {
  return absl::WebSafeBase64Escape(absl::StrCat("p1:", last_name));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token) {
  if (token.empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || !absl::StartsWith(raw, "p1:")) {
    return absl::InvalidArgumentError(
        "page_token is not one this server issued; pass next_page_token from the previous response unchanged");
  }
  return raw.substr(3);
}

}  // namespace switchboard::core
