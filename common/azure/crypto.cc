#include "common/azure/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "common/hmac.h"

namespace switchboard::azure {

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  return std::string(DigestBytes(switchboard::HmacSha256(key, {data})));
}

absl::StatusOr<std::string> SignBase64(absl::string_view key_b64, absl::string_view data) {
  std::string key;
  if (key_b64.empty() || !absl::Base64Unescape(key_b64, &key)) {
    return absl::InvalidArgumentError("the storage account key is not base64");
  }
  return absl::Base64Escape(HmacSha256(key, data));
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(out), len));
}

std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n));
  return s;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace switchboard::azure
