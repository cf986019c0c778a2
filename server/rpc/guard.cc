#include "server/rpc/guard.h"

#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>

#include "absl/strings/str_cat.h"

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
};

std::string PathOf(const At* at) {
  if (at == nullptr) return "";
  std::string parent = PathOf(at->parent);
  std::string out = parent.empty() ? at->field->name() : absl::StrCat(parent, ".", at->field->name());
  if (at->index >= 0) absl::StrAppend(&out, "[", at->index, "]");
  return out;
}

absl::Status Walk(const Message& m, const At* at) {
  const Reflection* r = m.GetReflection();
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
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
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

absl::Status CheckNoUnknownFields(const Message& message) { return Walk(message, nullptr); }

absl::StatusOr<Principal> Guard::Admit(grpc::CallbackServerContext* ctx, const Message& request,
                                       Role needed) const {
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
  RETURN_IF_ERROR(CheckNoUnknownFields(request));
  return principal;
}

}  // namespace switchboard::rpc
