#pragma once
// The idempotency fingerprint of a request: SHA-256 of its deterministic
// serialization, so a repeated request_id with other content is caught.

#include <string>

#include <google/protobuf/message_lite.h>

#include "absl/strings/string_view.h"
#include "common/proto_bytes.h"

namespace switchboard::core {

// SHA-256, lowercase hex, of bytes from DeterministicBytes (common/proto_bytes.h).
std::string FingerprintOf(absl::string_view deterministic_bytes);
// FingerprintOf(DeterministicBytes(message)).
std::string Fingerprint(const google::protobuf::MessageLite& message);

}  // namespace switchboard::core
