#include "common/webhook_signature.h"

#include <openssl/crypto.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/hmac.h"

namespace switchboard {

std::string SignWebhook(absl::string_view secret, int64_t unix_seconds, absl::string_view body) {
  const std::string ts = absl::StrCat(unix_seconds);  // fits the string's own buffer
  return absl::StrCat("sha256=", absl::BytesToHexString(DigestBytes(HmacSha256(secret, {ts, ".", body}))));
}

absl::Status VerifyWebhook(absl::string_view secret, absl::string_view timestamp_header,
                           absl::string_view signature_header, absl::string_view body, int64_t now_unix_seconds,
                           int64_t tolerance_seconds) {
  int64_t ts = 0;
  if (!absl::SimpleAtoi(timestamp_header, &ts)) {
    return absl::UnauthenticatedError(absl::StrCat(kTimestampHeader, " is missing or not unix seconds"));
  }
  if (ts < now_unix_seconds - tolerance_seconds || ts > now_unix_seconds + tolerance_seconds) {
    return absl::UnauthenticatedError(absl::StrCat(kTimestampHeader, " ", ts, " is more than ", tolerance_seconds,
                                                   " s from now: a replay or a skewed clock"));
  }
  std::string want = SignWebhook(secret, ts, body);
  if (want.size() != signature_header.size() ||
      CRYPTO_memcmp(want.data(), signature_header.data(), want.size()) != 0) {
    return absl::UnauthenticatedError(absl::StrCat(kSignatureHeader, " does not match the body and secret"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard
