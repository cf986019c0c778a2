#include "common/azure/shared_key.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/azure/crypto.h"

namespace switchboard::azure {

std::string SharedKeyStringToSign(absl::string_view account, const SignableRequest& r) {
  std::map<std::string, std::string> lower;
  for (const auto& [k, v] : r.headers) lower[absl::AsciiStrToLower(k)] = v;
  auto h = [&](const char* name) {
    auto it = lower.find(name);
    return it == lower.end() ? std::string() : it->second;
  };
  std::string out = absl::StrCat(r.method, "\n", h("content-encoding"), "\n", h("content-language"), "\n",
                                 r.content_length > 0 ? absl::StrCat(r.content_length) : "", "\n", h("content-md5"),
                                 "\n", h("content-type"), "\n", h("date"), "\n", h("if-modified-since"), "\n",
                                 h("if-match"), "\n", h("if-none-match"), "\n", h("if-unmodified-since"), "\n",
                                 h("range"), "\n");
  // Canonicalized headers: x-ms-*, lower-case, sorted (std::map), trimmed.
  for (const auto& [k, v] : lower) {
    if (!absl::StartsWith(k, "x-ms-")) continue;
    absl::StrAppend(&out, k, ":", absl::StripAsciiWhitespace(v), "\n");
  }
  // Canonicalized resource.
  absl::StrAppend(&out, "/", account, r.path.empty() ? "/" : r.path);
  std::map<std::string, std::string> q;
  for (const auto& [k, v] : r.query) q[absl::AsciiStrToLower(k)] = v;
  for (const auto& [k, v] : q) absl::StrAppend(&out, "\n", k, ":", v);
  return out;
}

absl::StatusOr<std::string> SharedKeyAuthorization(absl::string_view account, absl::string_view key_b64,
                                                   const SignableRequest& request) {
  auto sig = SignBase64(key_b64, SharedKeyStringToSign(account, request));
  if (!sig.ok()) return sig.status();
  return absl::StrCat("SharedKey ", account, ":", *sig);
}

}  // namespace switchboard::azure
