#pragma once
// Protobuf wire bytes written directly: a message's deterministic
// serialization, and fields appended to an already serialized message.
// Protobuf parsing lets a later occurrence of a scalar field win (and merges
// a later message field), so appending sets a field without parsing.

#include <cstdint>
#include <initializer_list>
#include <string>

#include <google/protobuf/message_lite.h>

#include "absl/strings/string_view.h"

namespace switchboard {

// `message` serialized deterministically (map entries in key order), sized
// once and written in place. The bytes are a valid serialization of it.
std::string DeterministicBytes(const google::protobuf::MessageLite& message);

// Appends field `number` as a varint (wire type 0).
void AppendVarintField(std::string& serialized, int number, uint64_t value);
// Appends field `number` holding `message` (wire type 2).
void AppendMessageField(std::string& serialized, int number, const google::protobuf::MessageLite& message);
// Appends field `number` holding `bytes`, a message already serialized
// (wire type 2).
void AppendBytesField(std::string& serialized, int number, absl::string_view bytes);

// `serialized` without its top-level fields numbered `numbers` (every
// occurrence), the rest byte for byte: for bytes from DeterministicBytes,
// the same as the message serialized with those fields cleared, without
// copying the message to clear them. Bytes that do not parse as fields come
// back unchanged.
std::string WithoutFields(std::string serialized, std::initializer_list<int> numbers);

}  // namespace switchboard
