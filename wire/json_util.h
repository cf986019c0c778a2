#pragma once
// Helpers every wire codec shares: exception-free JSON parsing with a usable
// error message, RFC 3339 timestamps <-> google.protobuf.Timestamp, JSON <->
// google.protobuf.Struct/Value, and the field-named INVALID_ARGUMENT errors
// that docs/wire-formats.md asks for ("errors[0].timestamp: ...").
//
// Nothing here throws: nlohmann::json is only used through non-throwing
// calls, and every failure is an absl::Status.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::wire {

// How deep JSON objects and arrays may nest inside a Struct. Each JSON level
// costs three protobuf message levels (Struct, map entry, Value), and gRPC
// refuses messages nested more than 100 deep, so anything deeper than this
// would be accepted here and then fail on the wire.
inline constexpr int kMaxStructDepth = 24;

// Parses JSON text. Invalid JSON (including invalid UTF-8 and numbers out of
// range) is INVALID_ARGUMENT "invalid JSON: <where and why>"; a key that
// appears twice in one object is INVALID_ARGUMENT "<path>: duplicate key..."
// (e.g. "[0].data.blobUri: duplicate key; ..."), never last-one-wins.
absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text);

// "object", "array", "string", "number", "boolean" or "null".
const char* JsonTypeName(const nlohmann::json& value);

// INVALID_ARGUMENT "<field>: <problem>".
absl::Status FieldError(absl::string_view field, absl::string_view problem);

// "prefix.key", or "key" when prefix is empty.
std::string FieldPath(absl::string_view prefix, absl::string_view key);

// Fails naming the first key of `object` that is not in `allowed`, e.g.
// "colour: unknown key; expected one of a, b, c". `object` must be an object.
absl::Status RejectUnknownKeys(const nlohmann::json& object, absl::string_view prefix,
                               std::initializer_list<absl::string_view> allowed);

// Typed access to a key of a JSON object; `field` names the key in errors.
// Require* fail when the key is absent ("<field>: required key is missing")
// or of the wrong type ("<field>: must be a string, got number").
absl::StatusOr<std::string> RequireString(const nlohmann::json& object, absl::string_view key, absl::string_view field,
                                          bool allow_empty = false);
absl::StatusOr<const nlohmann::json*> RequireMember(const nlohmann::json& object, absl::string_view key,
                                                    absl::string_view field);
// Nullptr when the key is absent or JSON null.
const nlohmann::json* FindMember(const nlohmann::json& object, absl::string_view key);

// A JSON integer within [min, max]; floats such as 1.0 are rejected.
absl::StatusOr<int64_t> JsonToInt(const nlohmann::json& value, absl::string_view field, int64_t min, int64_t max);

// RFC 3339 / ISO 8601 date-time with a mandatory offset: "2016-05-29T15:03:50Z",
// "2016-05-29T15:03:50+00:00", "2016-05-29T17:03:50.123+02:00". The result is
// the instant in UTC; the original offset is not kept. The error message does
// not name a field: callers wrap it with FieldError.
absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view text);

// How FormatRfc3339 writes UTC.
enum class UtcSuffix {
  kZ,       // "2016-05-29T15:03:50Z" (protobuf JSON, Event Grid)
  kOffset,  // "2016-05-29T15:03:50+00:00" (Python isoformat(), Gorg)
};

// Formats in UTC with as many fractional digits as needed (none, 3, 6 or 9).
std::string FormatRfc3339(const google::protobuf::Timestamp& ts, UtcSuffix suffix = UtcSuffix::kZ);

// JSON -> Struct/Value. `field` names the value in errors. Numbers become
// doubles (Struct has no integers), so integers beyond 2^53 lose precision.
absl::StatusOr<google::protobuf::Struct> JsonToStruct(const nlohmann::json& object, absl::string_view field);
absl::StatusOr<google::protobuf::Value> JsonToValue(const nlohmann::json& value, absl::string_view field);

// Struct/Value -> JSON. Integral doubles within +-2^53 come back as JSON
// integers, so {"n": 5} round-trips as 5 and not 5.0. NaN and infinities,
// which JSON cannot carry, become null.
nlohmann::json StructToJson(const google::protobuf::Struct& s);
nlohmann::json ValueToJson(const google::protobuf::Value& v);

}  // namespace switchboard::wire
