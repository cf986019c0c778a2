#include "server/rpc/guard.h"

#include <algorithm>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/rpc/method_rules.h"

namespace switchboard::rpc {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Where a message sits in the request, as a chain up to the root (null):
// the path text is built only for an error.
struct At {
  const At* parent;
  const FieldDescriptor* field;
  int index;  // -1 for a singular field
  // A map entry's key, as written in the path (`fields["a"]`); null otherwise.
  const std::string* key = nullptr;
};

std::string PathOf(const At* at) {
  if (at == nullptr) return "";
  std::string parent = PathOf(at->parent);
  // A map entry's value is named by its entry: fields["a"], not fields["a"].value.
  if (at->field->containing_type()->options().map_entry()) return parent;
  std::string out = parent.empty() ? at->field->name() : absl::StrCat(parent, ".", at->field->name());
  if (at->key != nullptr) absl::StrAppend(&out, "[", *at->key, "]");
  if (at->index >= 0) absl::StrAppend(&out, "[", at->index, "]");
  return out;
}

// A map entry's key as the path shows it: "a" quoted (escaped), numbers and
// bools as they are.
std::string KeyText(const Message& entry) {
  const FieldDescriptor* k = entry.GetDescriptor()->map_key();
  const Reflection* r = entry.GetReflection();
  switch (k->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: return absl::StrCat("\"", absl::CHexEscape(r->GetString(entry, k)), "\"");
    case FieldDescriptor::CPPTYPE_INT32: return absl::StrCat(r->GetInt32(entry, k));
    case FieldDescriptor::CPPTYPE_INT64: return absl::StrCat(r->GetInt64(entry, k));
    case FieldDescriptor::CPPTYPE_UINT32: return absl::StrCat(r->GetUInt32(entry, k));
    case FieldDescriptor::CPPTYPE_UINT64: return absl::StrCat(r->GetUInt64(entry, k));
    case FieldDescriptor::CPPTYPE_BOOL: return r->GetBool(entry, k) ? "true" : "false";
    default: return "?";
  }
}

// A google.protobuf.Value sets one kind. One with none (what a client that
// writes the wrong field names sends) would be stored as null; it is refused.
absl::Status CheckValueKind(const Message& m, const At* at) {
  const google::protobuf::OneofDescriptor* kind = m.GetDescriptor()->FindOneofByName("kind");
  if (kind == nullptr || m.GetReflection()->GetOneofFieldDescriptor(m, kind) != nullptr) return absl::OkStatus();
  std::string path = PathOf(at);
  return absl::InvalidArgumentError(absl::StrCat(
      path.empty() ? "request" : path,
      ": a Struct value must set one kind (null_value, number_value, string_value, bool_value, struct_value or "
      "list_value)"));
}

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

absl::Status CheckTimestamp(const Message& m, const At* at) {
  const google::protobuf::Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  const FieldDescriptor* seconds = d->FindFieldByNumber(1);
  const FieldDescriptor* nanos = d->FindFieldByNumber(2);
  if (seconds == nullptr || nanos == nullptr) return absl::OkStatus();
  const int64_t s = r->GetInt64(m, seconds);
  const int32_t n = r->GetInt32(m, nanos);
  std::string path = PathOf(at);
  if (path.empty()) path = "request";
  if (s < kMinTimestampSeconds || s > kMaxTimestampSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": seconds ", s, " is outside the Timestamp range (", kMinTimestampSeconds, " to ",
        kMaxTimestampSeconds, ", years 1 to 9999); send an RFC 3339 time in that range"));
  }
  if (n < 0 || n > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": nanos ", n, " is outside 0..999,999,999; carry whole seconds in seconds"));
  }
  return absl::OkStatus();
}

// An enum field holds a number its enum declares (proto3 keeps any number).
absl::Status CheckEnum(const Message& m, const FieldDescriptor* f, const At* at) {
  const Reflection* r = m.GetReflection();
  const int count = f->is_repeated() ? r->FieldSize(m, f) : 1;
  for (int i = 0; i < count; ++i) {
    const int value = f->is_repeated() ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
    if (f->enum_type()->FindValueByNumber(value) != nullptr) continue;
    At here{at, f, f->is_repeated() ? i : -1};
    std::string names;
    for (int v = 0; v < f->enum_type()->value_count(); ++v) {
      absl::StrAppend(&names, v == 0 ? "" : ", ", f->enum_type()->value(v)->name());
    }
    return absl::InvalidArgumentError(absl::StrCat(PathOf(&here), ": ", value, " is not a value of ",
                                                   f->enum_type()->full_name(), "; use one of ", names));
  }
  return absl::OkStatus();
}

absl::Status Walk(const Message& m, const At* at);

// One entry of a map field: its value is walked even when the entry does
// not set it (a Struct field with no value at all is a Value with no kind).
absl::Status WalkMapEntry(const Message& entry, const At* at) {
  const FieldDescriptor* v = entry.GetDescriptor()->map_value();
  const Reflection* r = entry.GetReflection();
  if (!r->GetUnknownFields(entry).empty()) return Walk(entry, at);  // named as Walk names them
  if (v->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) return CheckEnum(entry, v, at);
  if (v->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return absl::OkStatus();
  At here{at, v, -1};
  return Walk(r->GetMessage(entry, v), &here);
}

absl::Status Walk(const Message& m, const At* at) {
  const Reflection* r = m.GetReflection();
  const std::string& type = m.GetDescriptor()->full_name();
  if (type == "google.protobuf.Timestamp") RETURN_IF_ERROR(CheckTimestamp(m, at));
  if (type == "google.protobuf.Value") RETURN_IF_ERROR(CheckValueKind(m, at));
  const auto& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    std::string path = PathOf(at);
    return absl::InvalidArgumentError(absl::StrCat(
        path.empty() ? "request" : path, ": unknown field number ", unknown.field(0).number(),
        "; this server does not know it (client built from a newer or different .proto?)"));
  }
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      RETURN_IF_ERROR(CheckEnum(m, f, at));
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_map()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const Message& entry = r->GetRepeatedMessage(m, f, i);
        const std::string key = KeyText(entry);
        At here{at, f, -1, &key};
        if (absl::Status s = WalkMapEntry(entry, &here); !s.ok()) return s;
      }
    } else if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        At here{at, f, i};
        if (absl::Status s = Walk(r->GetRepeatedMessage(m, f, i), &here); !s.ok()) return s;
      }
    } else {
      At here{at, f, -1};
      if (absl::Status s = Walk(r->GetMessage(m, f), &here); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFields(const Message& message) { return Walk(message, nullptr); }

absl::Status CheckRequestId(const Message& request) {
  const FieldDescriptor* id = request.GetDescriptor()->FindFieldByName("request_id");
  if (id == nullptr || id->is_repeated() || id->cpp_type() != FieldDescriptor::CPPTYPE_STRING) {
    return absl::OkStatus();
  }
  if (!request.GetReflection()->GetString(request, id).empty()) return absl::OkStatus();
  const MethodRule* rule = RuleForRequest(request.GetDescriptor());
  if (rule != nullptr && rule->request_id_from_payload) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "request_id: required on every mutating call; set a new unique id (a UUID, or one derived from what the "
      "request does) and send the same id only to retry the same request");
}

absl::Status UnparsableRequest(absl::string_view method, absl::string_view type) {
  return absl::InvalidArgumentError(absl::StrCat(
      method, ": the request could not be parsed as ", type,
      " (bytes that are not that message, truncated, a string that is not UTF-8, or nested deeper than 100)"));
}

absl::StatusOr<Principal> Guard::Admit(grpc::CallbackServerContext* ctx, const Message& request,
                                       Role at_least) const {
  const MethodRule* rule = RuleForRequest(request.GetDescriptor());
  if (rule == nullptr) {
    return absl::InternalError(absl::StrCat("no method rule takes ", request.GetDescriptor()->full_name(),
                                            "; add its RPC to server/rpc/method_rules.cc"));
  }
  const Role needed = std::max(rule->role, at_least);
  std::optional<absl::string_view> authorization;
  const auto& md = ctx->client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  ASSIGN_OR_RETURN(Principal principal, auth_->Authorize(authorization, needed));
  size_t size = request.ByteSizeLong();
  if (size > max_request_bytes_) {
    return absl::InvalidArgumentError(absl::StrCat("request is ", size, " bytes; this server accepts at most ",
                                                   max_request_bytes_,
                                                   " (--max_message_bytes). Split the request or raise the limit."));
  }
  RETURN_IF_ERROR(CheckFields(request));
  RETURN_IF_ERROR(CheckRequestId(request));
  return principal;
}

}  // namespace switchboard::rpc
