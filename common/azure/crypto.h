#pragma once
// The hashing Azure's SharedKey and SAS signatures need, through OpenSSL.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::azure {

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(absl::string_view key, absl::string_view data);
// Base64(HMAC-SHA256(Base64Decode(key_b64), data)): Azure's signature.
// INVALID_ARGUMENT if the key is not base64.
absl::StatusOr<std::string> SignBase64(absl::string_view key_b64, absl::string_view data);
// Lower-case hex SHA-256.
std::string Sha256Hex(absl::string_view data);
// `n` cryptographically random bytes.
std::string RandomBytes(size_t n);
// Compares in time independent of where the inputs differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace switchboard::azure
