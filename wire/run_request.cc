#include "wire/run_request.h"

#include <initializer_list>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "wire/json_util.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;

// The member whose key equals one of `names` ignoring case; nullptr if none
// (or JSON null).
const json* Member(const json& object, std::initializer_list<absl::string_view> names) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    for (absl::string_view n : names) {
      if (absl::EqualsIgnoreCase(it.key(), n)) return it.value().is_null() ? nullptr : &it.value();
    }
  }
  return nullptr;
}

absl::StatusOr<std::string> String(const json& object, absl::string_view key, const std::string& field,
                                   bool required) {
  const json* v = Member(object, {key});
  if (v == nullptr) {
    if (required) return FieldError(field, "required key is missing");
    return std::string();
  }
  if (!v->is_string()) return FieldError(field, absl::StrCat("must be a string, got ", JsonTypeName(*v)));
  return v->get<std::string>();
}

absl::StatusOr<const json*> Object(const json& object, std::initializer_list<absl::string_view> keys,
                                   const std::string& field, bool required) {
  const json* v = Member(object, keys);
  if (v == nullptr) {
    if (required) return FieldError(field, "required key is missing");
    return nullptr;
  }
  if (!v->is_object()) return FieldError(field, absl::StrCat("must be an object, got ", JsonTypeName(*v)));
  return v;
}

absl::StatusOr<v1::UserRole> Role(const std::string& text, const std::string& field) {
  std::string r = absl::AsciiStrToLower(text);
  if (r.empty()) return v1::USER_ROLE_UNSPECIFIED;
  if (r == "owner") return v1::OWNER;
  if (r == "admin") return v1::ADMIN;
  if (r == "user") return v1::USER;
  if (r == "guest") return v1::GUEST;
  return FieldError(field, absl::StrCat("'", text, "' is not one of Owner, Admin, User, Guest"));
}

const char* RoleText(v1::UserRole r) {
  switch (r) {
    case v1::OWNER: return "Owner";
    case v1::ADMIN: return "Admin";
    case v1::USER: return "User";
    case v1::GUEST: return "Guest";
    default: return "";
  }
}

absl::StatusOr<json> ParseMaybeBase64(absl::string_view text) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (!trimmed.empty() && trimmed.front() != '{' && trimmed.front() != '[') {
    std::string decoded;
    if (!absl::Base64Unescape(trimmed, &decoded)) {
      return absl::InvalidArgumentError("body: neither JSON nor base64 of JSON");
    }
    return ParseJson(decoded);
  }
  return ParseJson(trimmed);
}

}  // namespace

absl::StatusOr<v1::SubmitRunRequest> RunRequestFromJson(absl::string_view text, absl::string_view request_id) {
  absl::StatusOr<json> parsed = ParseMaybeBase64(text);
  if (!parsed.ok()) return parsed.status();
  const json* root = &*parsed;
  if (!root->is_object()) return FieldError("body", absl::StrCat("must be a JSON object, got ", JsonTypeName(*root)));
  v1::SubmitRunRequest req;
  req.set_request_id(std::string(request_id));
  // MassTransit envelope.
  if (const json* msg = Member(*root, {"message"}); msg != nullptr && msg->is_object()) {
    if (req.request_id().empty()) {
      if (const json* id = Member(*root, {"messageId"}); id != nullptr && id->is_string()) {
        req.set_request_id(id->get<std::string>());
      }
    }
    root = msg;
  }
  const json* modules = Member(*root, {"modules", "templates"});
  if (modules == nullptr) return FieldError("modules", "required key is missing (also accepted: templates)");
  if (!modules->is_array()) return FieldError("modules", absl::StrCat("must be an array, got ", JsonTypeName(*modules)));
  for (size_t i = 0; i < modules->size(); ++i) {
    const json& m = (*modules)[i];
    std::string field = absl::StrCat("modules[", i, "]");
    if (!m.is_object()) return FieldError(field, absl::StrCat("must be an object, got ", JsonTypeName(m)));
    v1::Module* out = req.add_modules();
    absl::StatusOr<std::string> name = String(m, "name", field + ".name", true);
    if (!name.ok()) return name.status();
    out->set_name(*name);
    absl::StatusOr<std::string> version = String(m, "version", field + ".version", false);
    if (!version.ok()) return version.status();
    out->set_version(*version);
  }
  absl::StatusOr<const json*> ws = Object(*root, {"workspace"}, "workspace", true);
  if (!ws.ok()) return ws.status();
  v1::WorkspaceSpec* spec = req.mutable_workspace();
  for (auto [key, setter] : std::initializer_list<std::pair<absl::string_view, void (v1::WorkspaceSpec::*)(const std::string&)>>{
           {"name", &v1::WorkspaceSpec::set_name}, {"acronym", &v1::WorkspaceSpec::set_acronym}}) {
    absl::StatusOr<std::string> v = String(**ws, key, absl::StrCat("workspace.", key), true);
    if (!v.ok()) return v.status();
    (spec->*setter)(*v);
  }
  absl::StatusOr<const json*> org = Object(**ws, {"organization"}, "workspace.organization", false);
  if (!org.ok()) return org.status();
  if (*org != nullptr) {
    absl::StatusOr<std::string> n = String(**org, "name", "workspace.organization.name", false);
    if (!n.ok()) return n.status();
    absl::StatusOr<std::string> c = String(**org, "code", "workspace.organization.code", false);
    if (!c.ok()) return c.status();
    spec->mutable_organization()->set_name(*n);
    spec->mutable_organization()->set_code(*c);
  }
  if (const json* users = Member(**ws, {"users"}); users != nullptr) {
    if (!users->is_array()) return FieldError("workspace.users", absl::StrCat("must be an array, got ", JsonTypeName(*users)));
    for (size_t i = 0; i < users->size(); ++i) {
      const json& u = (*users)[i];
      std::string field = absl::StrCat("workspace.users[", i, "]");
      if (!u.is_object()) return FieldError(field, absl::StrCat("must be an object, got ", JsonTypeName(u)));
      v1::WorkspaceUser* out = spec->add_users();
      absl::StatusOr<std::string> email = String(u, "email", field + ".email", true);
      if (!email.ok()) return email.status();
      out->set_email(*email);
      absl::StatusOr<std::string> oid = String(u, "objectId", field + ".objectId", false);
      if (!oid.ok()) return oid.status();
      out->set_object_id(*oid);
      absl::StatusOr<std::string> role_text = String(u, "role", field + ".role", false);
      if (!role_text.ok()) return role_text.status();
      absl::StatusOr<v1::UserRole> role = Role(*role_text, field + ".role");
      if (!role.ok()) return role.status();
      out->set_role(*role);
    }
  }
  absl::StatusOr<std::string> email = String(*root, "requestingUserEmail", "requestingUserEmail", true);
  if (!email.ok()) return email.status();
  req.set_requesting_user_email(*email);
  if (const json* ctx = Member(*root, {"operationContext"}); ctx != nullptr) {
    absl::StatusOr<google::protobuf::Struct> s = JsonToStruct(*ctx, "operationContext");
    if (!s.ok()) return s.status();
    *req.mutable_operation_context() = std::move(*s);
  }
  return req;
}

std::string RunRequestToJson(const v1::SubmitRunRequest& r) {
  json modules = json::array();
  for (const auto& m : r.modules()) modules.push_back({{"name", m.name()}, {"version", m.version()}});
  json users = json::array();
  for (const auto& u : r.workspace().users()) {
    json j = {{"email", u.email()}};
    if (!u.object_id().empty()) j["objectId"] = u.object_id();
    if (u.role() != v1::USER_ROLE_UNSPECIFIED) j["role"] = RoleText(u.role());
    users.push_back(std::move(j));
  }
  nlohmann::ordered_json out;
  out["modules"] = modules;
  out["workspace"] = {{"name", r.workspace().name()}, {"acronym", r.workspace().acronym()}};
  // Only when the request has one: it is optional, and an empty object
  // would decode as an organization given with empty name and code.
  if (r.workspace().has_organization()) {
    out["workspace"]["organization"] = {{"name", r.workspace().organization().name()},
                                        {"code", r.workspace().organization().code()}};
  }
  out["workspace"]["users"] = users;
  out["requestingUserEmail"] = r.requesting_user_email();
  if (r.has_operation_context()) out["operationContext"] = StructToJson(r.operation_context());
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace switchboard::wire
