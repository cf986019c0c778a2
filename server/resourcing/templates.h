#pragma once
// Templates of the modules repository and what a run writes from them:
//
//  * A template is the folder <templates_dir>/<name>. Its top-level regular
//    files, except *.md and template.json, are copied into
//    terraform/projects/<ACRONYM>/ with {{version}} and {{branch}} replaced.
//    Subfolders are not copied. A symlink or submodule among the top-level
//    entries fails the template (it could point outside the tree).
//  * template.json (optional) declares the approval policy:
//    {"approval": "required" | "none"}. Without it the workspace template
//    requires approval and every other template does not.
//  * *.variables.tf.json declare the variables:
//    {"variable": {"<name>": {"type": ..., "default"?: ...}}}. Each is resolved
//    from, in order: the server config's terraform.variables; the workspace
//    (project_cd, project_acronym, workspace_name, project_name,
//    organization_name, organization_code, requesting_user_email); user lists
//    by role as [{email, oid}] (storage_contributor_users: Owner, Admin, User;
//    storage_reader_users: Guest; workspace_admin_users: Owner, Admin;
//    workspace_users: everyone). A variable with a default that nothing
//    resolves is left to its default; one without stays unresolved and fails
//    the run with a message naming it.
//  * The resolved values are written as <name>.auto.tfvars.json.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "server/resourcing/git_repo.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

struct LoadedTemplate {
  std::string name;
  std::string version;
  // Modules repository commit it was read from.
  std::string commit;
  // Files to copy (name, content), before placeholder replacement.
  std::vector<std::pair<std::string, std::string>> files;
  // Variable name -> declaration ({"type", "default"?}).
  nlohmann::json variables = nlohmann::json::object();
  v1::ApprovalPolicy policy = v1::APPROVAL_POLICY_UNSPECIFIED;
};

// Reads template `name` at `version` from the modules mirror. NOT_FOUND for
// an unknown template or version; INVALID_ARGUMENT for a malformed template
// (symlink, bad JSON), naming the file.
absl::StatusOr<LoadedTemplate> LoadTemplate(GitRepo& modules, const std::string& templates_dir,
                                            const std::string& main_branch, const std::string& name,
                                            const std::string& version);

// The tfvars object for `t`. FAILED_PRECONDITION naming every unresolved
// required variable.
absl::StatusOr<nlohmann::json> ResolveVariables(const LoadedTemplate& t, const v1::WorkspaceSpec& ws,
                                                const std::string& requesting_user_email,
                                                const std::map<std::string, nlohmann::json>& config_vars);

// The files to write under terraform/projects/<ACRONYM>/ (path relative to
// the repository root), placeholders replaced, tfvars included.
std::vector<std::pair<std::string, std::string>> RenderTemplate(const LoadedTemplate& t, const std::string& acronym,
                                                                const std::string& branch,
                                                                const nlohmann::json& tfvars);

std::string ProjectFolder(const std::string& acronym);

}  // namespace switchboard::resourcing
