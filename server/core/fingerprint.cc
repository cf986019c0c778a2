#include "server/core/fingerprint.h"

#include "common/auth.h"

namespace switchboard::core {

std::string FingerprintOf(absl::string_view deterministic_bytes) { return Sha256Hex(deterministic_bytes); }

std::string Fingerprint(const google::protobuf::MessageLite& message) {
  return FingerprintOf(DeterministicBytes(message));
}

}  // namespace switchboard::core
