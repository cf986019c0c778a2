#include "common/proto_bytes.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>

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

namespace {
// The tag and length of a length-delimited field of `size` bytes.
void AppendFieldHead(std::string& serialized, int number, size_t size) {
  uint8_t head[16];  // a tag and a length, at most 5 bytes each
  uint8_t* end = CodedOutputStream::WriteTagToArray((static_cast<uint32_t>(number) << 3) | 2, head);
  end = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), end);
  serialized.append(reinterpret_cast<const char*>(head), end - head);
}
}  // namespace

void AppendBytesField(std::string& serialized, int number, absl::string_view bytes) {
  AppendFieldHead(serialized, number, bytes.size());
  serialized.append(bytes.data(), bytes.size());
}

void AppendMessageField(std::string& serialized, int number, const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  AppendFieldHead(serialized, number, size);
  const size_t at = serialized.size();
  serialized.resize(at + size);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(serialized.data() + at));
}

std::string WithoutFields(std::string serialized, std::initializer_list<int> numbers) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(serialized.data()),
                                            static_cast<int>(serialized.size()));
  std::string out;
  size_t kept_from = 0;  // where the bytes not yet copied to `out` start
  bool dropped = false;
  while (true) {
    const size_t start = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (!WireFormatLite::SkipField(&in, tag)) return serialized;
    const int number = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
    if (std::find(numbers.begin(), numbers.end(), number) == numbers.end()) continue;
    if (!dropped) out.reserve(serialized.size());
    out.append(serialized, kept_from, start - kept_from);
    kept_from = static_cast<size_t>(in.CurrentPosition());
    dropped = true;
  }
  if (static_cast<size_t>(in.CurrentPosition()) != serialized.size()) return serialized;  // stopped early
  if (!dropped) return serialized;
  out.append(serialized, kept_from, std::string::npos);
  return out;
}

}  // namespace switchboard
