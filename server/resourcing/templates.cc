#include "server/resourcing/templates.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/status.h"
#include "server/resourcing/names.h"

namespace switchboard::resourcing {

std::string ProjectFolder(const std::string& acronym) { return absl::StrCat("terraform/projects/", acronym); }

absl::StatusOr<LoadedTemplate> LoadTemplate(GitRepo& modules, const std::string& templates_dir,
                                            const std::string& main_branch, const std::string& name,
                                            const std::string& version) {
  LoadedTemplate t;
  t.name = name;
  t.version = version;
  ASSIGN_OR_RETURN(t.commit, modules.ResolveVersion(version, main_branch));
  auto folder_of = [&](const std::string& n) { return templates_dir.empty() ? n : absl::StrCat(templates_dir, "/", n); };
  std::string folder = folder_of(name);
  auto entries = modules.ReadFolder(t.commit, folder);
  if (absl::IsNotFound(entries.status()) && IsWorkspaceTemplate(name)) {
    // The workspace template has two names (names.h): a modules repository
    // may hold it under either.
    const std::string other = name == kWorkspaceTemplate ? kProjectTemplate : kWorkspaceTemplate;
    auto alias = modules.ReadFolder(t.commit, folder_of(other));
    if (alias.ok() || !absl::IsNotFound(alias.status())) {
      folder = folder_of(other);
      entries = std::move(alias);
    } else {
      folder = absl::StrCat(folder, " nor ", folder_of(other));
    }
  }
  if (!entries.ok()) {
    if (entries.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("template '", name, "' does not exist in the modules repository (no folder ",
                                              folder, " at ", version, ")"));
    }
    return entries.status();
  }
  bool declared_policy = false;
  for (auto& e : *entries) {
    const std::string where = absl::StrCat(folder, "/", e.name);
    if (e.kind == "symlink" || e.kind == "submodule") {
      return absl::InvalidArgumentError(absl::StrCat("template '", name, "': ", where, " is a ", e.kind,
                                                     "; templates may hold only regular files"));
    }
    if (e.kind != "blob") continue;
    if (e.name == "template.json") {
      nlohmann::json j = nlohmann::json::parse(e.content, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
      }
      if (j.contains("approval")) {
        const auto& a = j["approval"];
        if (a == "required") t.policy = v1::APPROVAL_REQUIRED;
        else if (a == "none") t.policy = v1::NO_APPROVAL;
        else return absl::InvalidArgumentError(absl::StrCat(where, ": approval must be \"required\" or \"none\""));
        declared_policy = true;
      }
      continue;
    }
    if (absl::EndsWith(e.name, ".md")) continue;
    if (absl::EndsWith(e.name, ".variables.tf.json") || e.name == "variables.tf.json") {
      nlohmann::json j = nlohmann::json::parse(e.content, nullptr, false);
      if (j.is_discarded() || !j.is_object() || (j.contains("variable") && !j["variable"].is_object())) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": must be {\"variable\": {name: {type, default?}}} in Terraform JSON syntax"));
      }
      if (j.contains("variable")) {
        for (auto it = j["variable"].begin(); it != j["variable"].end(); ++it) {
          t.variables[it.key()] = it.value().is_object() ? it.value() : nlohmann::json::object();
        }
      }
    }
    t.files.emplace_back(e.name, std::move(e.content));
  }
  if (!declared_policy) t.policy = IsWorkspaceTemplate(name) ? v1::APPROVAL_REQUIRED : v1::NO_APPROVAL;
  return t;
}

namespace {

nlohmann::json UsersWithRoles(const v1::WorkspaceSpec& ws, std::initializer_list<v1::UserRole> roles) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& u : ws.users()) {
    v1::UserRole r = u.role() == v1::USER_ROLE_UNSPECIFIED ? v1::USER : u.role();
    for (auto want : roles) {
      if (r == want) {
        out.push_back({{"email", u.email()}, {"oid", u.object_id()}});
        break;
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<nlohmann::json> ResolveVariables(const LoadedTemplate& t, const v1::WorkspaceSpec& ws,
                                                const std::string& requesting_user_email,
                                                const std::map<std::string, nlohmann::json>& config_vars) {
  const std::map<std::string, nlohmann::json> from_workspace = {
      {"project_cd", ws.acronym()},
      {"project_acronym", ws.acronym()},
      {"workspace_name", ws.name()},
      {"project_name", ws.name()},
      {"organization_name", ws.organization().name()},
      {"organization_code", ws.organization().code()},
      {"requesting_user_email", requesting_user_email},
      {"storage_contributor_users", UsersWithRoles(ws, {v1::OWNER, v1::ADMIN, v1::USER})},
      {"storage_reader_users", UsersWithRoles(ws, {v1::GUEST})},
      {"workspace_admin_users", UsersWithRoles(ws, {v1::OWNER, v1::ADMIN})},
      {"workspace_users", UsersWithRoles(ws, {v1::OWNER, v1::ADMIN, v1::USER, v1::GUEST})},
  };
  nlohmann::json out = nlohmann::json::object();
  std::vector<std::string> missing;
  for (auto it = t.variables.begin(); it != t.variables.end(); ++it) {
    const std::string& name = it.key();
    if (auto c = config_vars.find(name); c != config_vars.end()) {
      out[name] = c->second;
    } else if (auto w = from_workspace.find(name); w != from_workspace.end()) {
      out[name] = w->second;
    } else if (!it.value().contains("default")) {
      missing.push_back(name);
    }
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "template '", t.name, "' declares required variable", missing.size() > 1 ? "s " : " ",
        absl::StrJoin(missing, ", "),
        " that nothing resolves; set it under resourcing.terraform.variables in the server config, or give it a "
        "default in the template"));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> RenderTemplate(const LoadedTemplate& t, const std::string& acronym,
                                                                const std::string& branch,
                                                                const nlohmann::json& tfvars) {
  const std::string folder = ProjectFolder(acronym);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, content] : t.files) {
    out.emplace_back(absl::StrCat(folder, "/", name),
                     absl::StrReplaceAll(content, {{"{{version}}", t.version}, {"{{branch}}", branch}}));
  }
  out.emplace_back(absl::StrCat(folder, "/", t.name, ".auto.tfvars.json"), tfvars.dump(2) + "\n");
  return out;
}

}  // namespace switchboard::resourcing
