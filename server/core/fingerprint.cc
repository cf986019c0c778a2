#include "server/core/fingerprint.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "common/auth.h"

namespace switchboard::core {

std::string DeterministicBytes(const google::protobuf::MessageLite& message) {
  // Sized once and written in place (a StringOutputStream would grow the
  // string step by step, zero-filling each step).
  std::string bytes(message.ByteSizeLong(), '\0');
  google::protobuf::io::ArrayOutputStream out(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedOutputStream cos(&out);
  cos.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&cos);
  return bytes;
}

std::string FingerprintOf(absl::string_view deterministic_bytes) { return Sha256Hex(deterministic_bytes); }

std::string Fingerprint(const google::protobuf::MessageLite& message) {
  return FingerprintOf(DeterministicBytes(message));
}

}  // namespace switchboard::core
