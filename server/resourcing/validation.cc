#include "server/resourcing/validation.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "server/resourcing/names.h"

namespace switchboard::resourcing {
namespace {

absl::Status Bad(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

bool IsAlnum(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); });
}

bool HasControl(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

bool IsValidEmail(absl::string_view email) {
  if (email.empty() || email.size() > 254) return false;
  size_t at = email.find('@');
  if (at == absl::string_view::npos || at == 0 || email.find('@', at + 1) != absl::string_view::npos) return false;
  absl::string_view domain = email.substr(at + 1);
  if (domain.empty() || domain.front() == '.' || domain.back() == '.' || !absl::StrContains(domain, '.')) return false;
  if (absl::StrContains(domain, "..")) return false;
  for (char c : email) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' || c == '\\') return false;
  }
  return true;
}

absl::Status ValidateTemplateName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return Bad(field, "is empty; give a template such as templates/azure-storage-blob");
  if (name.size() > 200) return Bad(field, "is longer than 200 characters");
  if (absl::StartsWith(name, "/") || absl::StrContains(name, "..") || absl::StrContains(name, "/") ||
      absl::StrContains(name, "\\")) {
    return Bad(field, absl::StrCat("'", name,
                                   "' is not a template name: give the folder under templates/ (letters, digits, "
                                   "'.', '_', '-'), with no path, '..' or absolute path"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return Bad(field, absl::StrCat("'", name, "' may hold only letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAndNormalize(v1::SubmitRunRequest* req) {
  if (req->request_id().empty()) return Bad("request_id", "is required (the idempotency key)");
  if (req->request_id().size() > 128) return Bad("request_id", "is longer than 128 characters");
  if (!req->has_workspace()) return Bad("workspace", "is required");
  v1::WorkspaceSpec* ws = req->mutable_workspace();
  if (ws->name().empty()) return Bad("workspace.name", "is required");
  if (ws->name().size() > 100) return Bad("workspace.name", "is longer than 100 characters");
  if (HasControl(ws->name())) return Bad("workspace.name", "holds control characters");
  if (ws->acronym().empty()) return Bad("workspace.acronym", "is required (1-10 letters or digits)");
  if (ws->acronym().size() > 10 || !IsAlnum(ws->acronym())) {
    return Bad("workspace.acronym", absl::StrCat("'", ws->acronym(), "' must be 1-10 characters of [A-Za-z0-9]"));
  }
  ws->set_acronym(absl::AsciiStrToUpper(ws->acronym()));
  if (ws->has_organization()) {
    const auto& org = ws->organization();
    if (org.name().size() > 100) return Bad("workspace.organization.name", "is longer than 100 characters");
    if (HasControl(org.name())) return Bad("workspace.organization.name", "holds control characters");
    if (org.code().empty() || org.code().size() > 10) {
      return Bad("workspace.organization.code", "must be 1-10 characters");
    }
    if (HasControl(org.code()) || absl::StrContains(org.code(), ' ')) {
      return Bad("workspace.organization.code", "must not hold spaces or control characters");
    }
  }
  if (ws->users_size() > kMaxUsers) {
    return Bad("workspace.users", absl::StrCat("has ", ws->users_size(), " entries; at most ", kMaxUsers,
                                               " are accepted in one request"));
  }
  for (int i = 0; i < ws->users_size(); ++i) {
    const auto& u = ws->users(i);
    std::string field = absl::StrCat("workspace.users[", i, "]");
    if (!IsValidEmail(u.email())) return Bad(field + ".email", absl::StrCat("'", u.email(), "' is not a valid address"));
    if (u.object_id().size() > 64 || HasControl(u.object_id())) {
      return Bad(field + ".objectId", "must be at most 64 printable characters");
    }
    if (!v1::UserRole_IsValid(u.role())) return Bad(field + ".role", "must be Owner, Admin, User or Guest");
  }
  if (req->modules_size() == 0) return Bad("modules", "needs at least one module, e.g. templates/new-workspace-template");
  std::set<std::string> seen;
  bool workspace_template_named[2] = {false, false};  // new-workspace-template, new-project-template
  for (int i = 0; i < req->modules_size(); ++i) {
    v1::Module* m = req->mutable_modules(i);
    std::string field = absl::StrCat("modules[", i, "].name");
    if (m->name().size() > 200) return Bad(field, "is longer than 200 characters");
    std::string name = StripTemplatesPrefix(m->name());
    RETURN_IF_ERROR(ValidateTemplateName(field, name));
    if (name == kWorkspaceTemplate) workspace_template_named[0] = true;
    if (name == kProjectTemplate) workspace_template_named[1] = true;
    if (workspace_template_named[0] && workspace_template_named[1]) {
      return Bad("modules", "lists both new-workspace-template and new-project-template; they are the same template");
    }
    if (!seen.insert(name).second) return Bad(field, absl::StrCat("'", name, "' is listed twice"));
    // The older name is read as the template's name (docs/wire-formats.md section 1).
    m->set_name(CanonicalTemplate(name));
    if (m->version().empty()) m->set_version("latest");
    if (m->version().size() > 100 || HasControl(m->version()) || absl::StrContains(m->version(), ' ') ||
        absl::StrContains(m->version(), "..")) {
      return Bad(absl::StrCat("modules[", i, "].version"), "must be 'latest', a tag or a commit id");
    }
  }
  // The workspace template always goes first; the rest keep request order.
  std::stable_partition(req->mutable_modules()->begin(), req->mutable_modules()->end(),
                        [](const v1::Module& m) { return IsWorkspaceTemplate(m.name()); });
  if (!IsValidEmail(req->requesting_user_email())) {
    return Bad("requesting_user_email",
               absl::StrCat("'", req->requesting_user_email(), "' is not a valid address (it signs the commits)"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::resourcing
