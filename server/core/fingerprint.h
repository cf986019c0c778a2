#pragma once
// The idempotency fingerprint of a request: SHA-256 of its deterministic
// serialization, so a repeated request_id with other content is caught.

#include <string>

#include <google/protobuf/message_lite.h>

namespace switchboard::core {

std::string Fingerprint(const google::protobuf::MessageLite& message);

}  // namespace switchboard::core
