#include "common/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace switchboard {

std::string SignWebhook(absl::string_view secret, int64_t unix_seconds, absl::string_view body) {
  std::string message = absl::StrCat(unix_seconds, ".", body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  return absl::StrCat("sha256=", absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(mac), len)));
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
