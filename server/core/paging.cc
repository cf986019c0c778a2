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

std::string EncodePageToken(absl::string_view collection, absl::string_view last_name) {
  return absl::WebSafeBase64Escape(absl::StrCat("p2:", collection, ":", last_name));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view collection, absl::string_view token) {
  if (token.empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || !absl::StartsWith(raw, "p2:") ||
      raw.find(':', 3) == std::string::npos) {
    return absl::InvalidArgumentError(
        "page_token is not one this server issued; pass next_page_token from the previous response unchanged");
  }
  const size_t colon = raw.find(':', 3);
  absl::string_view issued_for = absl::string_view(raw).substr(3, colon - 3);
  if (issued_for != collection) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token was issued for a listing of ", issued_for, ", not of ", collection,
        "; pass next_page_token from this RPC's previous response, or no token for the first page"));
  }
  return raw.substr(colon + 1);
}

}  // namespace switchboard::core
