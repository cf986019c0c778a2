#include "wire/gorg_envelope.h"

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "wire/json_util.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
// AMQP 0-9-1 carries the routing key as a short string.
constexpr size_t kMaxRoutingKeyBytes = 255;

struct ErrorTypeName {
  v1::BusError::Type type;
  const char* name;
};
constexpr ErrorTypeName kErrorTypes[] = {
    {v1::BusError::DEBUG, "debug"},         {v1::BusError::INFO, "info"},           {v1::BusError::WARNING, "warning"},
    {v1::BusError::SOFTERROR, "softerror"}, {v1::BusError::HARDERROR, "harderror"},
};

absl::StatusOr<google::protobuf::Timestamp> RequireTime(const json& object, absl::string_view key,
                                                        absl::string_view field) {
  ASSIGN_OR_RETURN(std::string text, RequireString(object, key, field));
  auto ts = ParseRfc3339(text);
  if (!ts.ok()) return FieldError(field, ts.status().message());
  return ts;
}

absl::StatusOr<google::protobuf::Struct> RequireObject(const json& object, absl::string_view key,
                                                       absl::string_view field) {
  ASSIGN_OR_RETURN(const json* member, RequireMember(object, key, field));
  return JsonToStruct(*member, field);
}

absl::StatusOr<v1::BusError> ErrorFromJson(const json& in, absl::string_view prefix) {
  if (!in.is_object()) return FieldError(prefix, absl::StrCat("must be a JSON object, got ", JsonTypeName(in)));
  RETURN_IF_ERROR(RejectUnknownKeys(
      in, prefix,
      {"error_type", "error_uuid", "error_sender", "error_message", "timestamp", "error_debug", "error_code"}));
  v1::BusError out;
  {
    std::string field = FieldPath(prefix, "error_type");
    ASSIGN_OR_RETURN(std::string type, RequireString(in, "error_type", field, /*allow_empty=*/true));
    for (const auto& t : kErrorTypes) {
      if (type == t.name) out.set_error_type(t.type);
    }
    if (out.error_type() == v1::BusError::TYPE_UNSPECIFIED) {
      return FieldError(field, absl::StrCat("'", type, "' is not one of debug, info, warning, softerror, harderror"));
    }
  }
  ASSIGN_OR_RETURN(*out.mutable_error_uuid(), RequireString(in, "error_uuid", FieldPath(prefix, "error_uuid")));
  ASSIGN_OR_RETURN(*out.mutable_error_sender(), RequireString(in, "error_sender", FieldPath(prefix, "error_sender")));
  ASSIGN_OR_RETURN(*out.mutable_error_message(),
                   RequireString(in, "error_message", FieldPath(prefix, "error_message"), /*allow_empty=*/true));
  ASSIGN_OR_RETURN(*out.mutable_timestamp(), RequireTime(in, "timestamp", FieldPath(prefix, "timestamp")));
  ASSIGN_OR_RETURN(*out.mutable_error_debug(), RequireObject(in, "error_debug", FieldPath(prefix, "error_debug")));
  if (const json* code = FindMember(in, "error_code")) {
    if (code->is_string()) {
      out.set_error_code(code->get_ref<const std::string&>());
    } else if (code->is_number_integer() || code->is_number_unsigned()) {
      out.set_error_code(code->dump());
    } else {
      return FieldError(FieldPath(prefix, "error_code"),
                        absl::StrCat("must be a string or an integer, got ", JsonTypeName(*code)));
    }
  }
  return out;
}

// StructToJson builds a plain json (sorted keys); the envelope itself keeps
// the seed's key order and nested objects come out sorted.
ordered_json ToOrdered(const json& in) { return ordered_json(in); }

}  // namespace

absl::Status ValidateRoutingKey(absl::string_view key, absl::string_view field) {
  if (key.empty()) return FieldError(field, "must not be empty: a routing key is dot-separated words");
  if (key.size() > kMaxRoutingKeyBytes) {
    return FieldError(
        field, absl::StrCat("is ", key.size(), " bytes long; AMQP routing keys hold at most ", kMaxRoutingKeyBytes));
  }
  int index = 0;  // 0-based, as the server counts
  for (absl::string_view word : absl::StrSplit(key, '.')) {
    if (word.empty()) {
      return FieldError(field, absl::StrCat("'", key, "' has an empty word at position ", index,
                                            "; a routing key is dot-separated, non-empty words"));
    }
    if (word == "*" || word == "#") {
      return FieldError(field, absl::StrCat("'", key, "' holds the wildcard '", word,
                                            "'; wildcards belong in bindings, routing keys are plain words"));
    }
    ++index;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::BusEnvelope> GorgEnvelopeFromJson(absl::string_view text) {
  ASSIGN_OR_RETURN(json in, ParseJson(text));
  if (!in.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("envelope: must be a JSON object, got ", JsonTypeName(in)));
  }
  RETURN_IF_ERROR(RejectUnknownKeys(
      in, "",
      {"event_uuid", "event_name", "event_creation_time", "event_sender_id", "data", "errors_count", "errors"}));
  v1::BusEnvelope out;
  ASSIGN_OR_RETURN(*out.mutable_event_uuid(), RequireString(in, "event_uuid", "event_uuid"));
  ASSIGN_OR_RETURN(*out.mutable_event_name(), RequireString(in, "event_name", "event_name", /*allow_empty=*/true));
  RETURN_IF_ERROR(ValidateRoutingKey(out.event_name(), "event_name"));
  ASSIGN_OR_RETURN(*out.mutable_event_creation_time(), RequireTime(in, "event_creation_time", "event_creation_time"));
  ASSIGN_OR_RETURN(*out.mutable_event_sender_id(), RequireString(in, "event_sender_id", "event_sender_id"));
  ASSIGN_OR_RETURN(*out.mutable_data(), RequireObject(in, "data", "data"));
  if (const json* count = FindMember(in, "errors_count")) {
    ASSIGN_OR_RETURN(int64_t n, JsonToInt(*count, "errors_count", 0, kMaxInt32));
    out.set_errors_count(static_cast<int32_t>(n));
  }
  if (const json* errors = FindMember(in, "errors")) {
    if (!errors->is_array()) {
      return FieldError("errors", absl::StrCat("must be a JSON array, got ", JsonTypeName(*errors)));
    }
    for (size_t i = 0; i < errors->size(); ++i) {
      ASSIGN_OR_RETURN(*out.add_errors(), ErrorFromJson((*errors)[i], absl::StrCat("errors[", i, "]")));
    }
  }
  return out;
}

std::string GorgEnvelopeToJson(const v1::BusEnvelope& envelope) {
  ordered_json out = ordered_json::object();
  out["event_uuid"] = envelope.event_uuid();
  out["event_name"] = envelope.event_name();
  out["event_creation_time"] = FormatRfc3339(envelope.event_creation_time(), UtcSuffix::kOffset);
  out["event_sender_id"] = envelope.event_sender_id();
  out["data"] = ToOrdered(StructToJson(envelope.data()));
  if (envelope.errors_count() != 0 || envelope.errors_size() > 0) {
    out["errors_count"] = envelope.errors_count();
    ordered_json errors = ordered_json::array();
    for (const auto& e : envelope.errors()) {
      ordered_json err = ordered_json::object();
      const char* type = "";
      for (const auto& t : kErrorTypes) {
        if (t.type == e.error_type()) type = t.name;
      }
      err["error_type"] = type;
      err["error_uuid"] = e.error_uuid();
      err["error_sender"] = e.error_sender();
      err["error_message"] = e.error_message();
      err["timestamp"] = FormatRfc3339(e.timestamp(), UtcSuffix::kZ);
      err["error_debug"] = ToOrdered(StructToJson(e.error_debug()));
      if (!e.error_code().empty()) err["error_code"] = e.error_code();
      errors.push_back(std::move(err));
    }
    out["errors"] = std::move(errors);
  }
  // Replace, not throw, on invalid UTF-8 (a proto string set by hand may
  // hold any bytes).
  return out.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace switchboard::wire
