#pragma once
// The idempotency fingerprint of a request: SHA-256 of its deterministic
// serialization, so a repeated request_id with other content is caught.

#include <string>

#include <google/protobuf/message_lite.h>

#include "absl/strings/string_view.h"

namespace switchboard::core {

// `message` serialized deterministically (map entries in key order). The
// bytes are also a valid serialization of it, for callers that keep both.
std::string DeterministicBytes(const google::protobuf::MessageLite& message);
// SHA-256, lowercase hex, of bytes from DeterministicBytes.
std::string FingerprintOf(absl::string_view deterministic_bytes);
// FingerprintOf(DeterministicBytes(message)).
std::string Fingerprint(const google::protobuf::MessageLite& message);

}  // namespace switchboard::core
