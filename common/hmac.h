#pragma once
// HMAC-SHA256, for webhook signatures (common/webhook_signature.h) and
// Azure's SharedKey and SAS signatures (common/azure/crypto.h).

#include <array>
#include <initializer_list>

#include "absl/strings/string_view.h"

namespace switchboard {

using Sha256Digest = std::array<unsigned char, 32>;

// HMAC-SHA256 under `key` of `parts` one after the other (as if they were
// one string). Each thread keeps one OpenSSL context and re-keys it per
// call: OpenSSL's one-shot HMAC() looks the algorithm up again every time.
Sha256Digest HmacSha256(absl::string_view key, std::initializer_list<absl::string_view> parts);

// The digest as bytes.
inline absl::string_view DigestBytes(const Sha256Digest& d) {
  return absl::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace switchboard
