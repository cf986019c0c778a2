#include "common/proto_bytes.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace switchboard {

using google::protobuf::io::CodedOutputStream;

std::string DeterministicBytes(const google::protobuf::MessageLite& message) {
  // A StringOutputStream would grow the string step by step, zero-filling
  // each step.
  std::string bytes(message.ByteSizeLong(), '\0');
  google::protobuf::io::ArrayOutputStream out(bytes.data(), static_cast<int>(bytes.size()));
  CodedOutputStream cos(&out);
  cos.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&cos);
  return bytes;
}

// The tag and the varint go through a small array: these run on the
// store's writer for every record.
void AppendVarintField(std::string& serialized, int number, uint64_t value) {
  uint8_t buf[16];  // a tag (at most 5 bytes) and a varint (at most 10)
  uint8_t* end = CodedOutputStream::WriteTagToArray(static_cast<uint32_t>(number) << 3, buf);
  end = CodedOutputStream::WriteVarint64ToArray(value, end);
  serialized.append(reinterpret_cast<const char*>(buf), end - buf);
}

void AppendMessageField(std::string& serialized, int number, const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  uint8_t head[16];  // a tag and a length, at most 5 bytes each
  uint8_t* end = CodedOutputStream::WriteTagToArray((static_cast<uint32_t>(number) << 3) | 2, head);
  end = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), end);
  serialized.append(reinterpret_cast<const char*>(head), end - head);
  const size_t at = serialized.size();
  serialized.resize(at + size);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(serialized.data() + at));
}

}  // namespace switchboard
