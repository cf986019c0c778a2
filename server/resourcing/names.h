#pragma once
// Names, store kinds and status texts of the resourcing service, shared by
// the engine pieces. Pure functions.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

inline constexpr char kService[] = "resourcing";
// Store kinds.
inline constexpr char kRunKind[] = "resourcing.run";
inline constexpr char kWorkspaceKind[] = "resourcing.workspace";
inline constexpr char kPullRequestKind[] = "resourcing.pull_request";
// Name = ACRONYM; value = the name of the workspace's active pull request.
inline constexpr char kActivePrKind[] = "resourcing.active_pr";
// The listing indexes (list_index.h): names that sort newest first, values
// the names of the records they list; one of every record, and one per
// workspace ("FISH/" and the key).
inline constexpr char kRunOrderKind[] = "resourcing.run_order";
inline constexpr char kRunOrderByWorkspaceKind[] = "resourcing.run_order_ws";
inline constexpr char kPullRequestOrderKind[] = "resourcing.pull_request_order";
inline constexpr char kPullRequestOrderByWorkspaceKind[] = "resourcing.pull_request_order_ws";
// Name = a step of the data dir's upgrade that is done (run_jobs.cc).
inline constexpr char kUpgradeKind[] = "resourcing.upgrade";

// The job kind of a run (run_jobs.h): key = the run's name, payload = its
// workspace's name.
inline constexpr char kRunJobKind[] = "resourcing.run";

// The workspace template, always applied first; both names are accepted
// wherever a template name is read, and new-project-template (the older
// senders' name) is read as new-workspace-template.
inline constexpr char kWorkspaceTemplate[] = "new-workspace-template";
inline constexpr char kProjectTemplate[] = "new-project-template";
bool IsWorkspaceTemplate(absl::string_view name);
// kWorkspaceTemplate for either name of the workspace template; any other
// name unchanged.
std::string CanonicalTemplate(absl::string_view name);
// Whether two template names name the same template.
bool SameTemplate(absl::string_view a, absl::string_view b);

std::string RunName(int64_t id);
// The number of a name such as runs/42 or pullRequests/7 (0 if none): the
// log sequence it was created at, so a larger one is newer.
int64_t NumberOf(absl::string_view name);
std::string WorkspaceName(absl::string_view acronym);
std::string PullRequestName(int64_t id);
// "workspaces/FISH" -> "FISH" (or the argument itself when it has no prefix).
std::string AcronymOf(absl::string_view workspace_name);
// "templates/azure-storage-blob" -> "azure-storage-blob".
std::string StripTemplatesPrefix(absl::string_view module_name);
// "azure-storage-blob" -> "azure_storage_blob".
std::string StatusKeyBase(absl::string_view template_name);

// "Pending Approval" etc. (docs/wire-formats.md section 2).
const char* StatusText(v1::ResourceStatus status);
// Reads a status value case-insensitively with separators ignored; anything
// unknown is UNKNOWN.
v1::ResourceStatus ParseStatusText(absl::string_view text);
bool IsTerminal(v1::ResourceStatus status);
bool IsTerminalRun(v1::Run::State state);

// The least advanced status of the templates (FAILED wins; UNKNOWN counts as
// least advanced after FAILED).
v1::ResourceStatus Aggregate(const google::protobuf::RepeatedPtrField<v1::TemplateStatus>& templates);

void SetNow(google::protobuf::Timestamp* ts);

}  // namespace switchboard::resourcing
