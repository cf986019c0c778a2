#include "server/resourcing/names.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace switchboard::resourcing {

bool IsWorkspaceTemplate(absl::string_view name) { return name == kWorkspaceTemplate || name == kProjectTemplate; }

std::string CanonicalTemplate(absl::string_view name) {
  return IsWorkspaceTemplate(name) ? std::string(kWorkspaceTemplate) : std::string(name);
}

bool SameTemplate(absl::string_view a, absl::string_view b) {
  return a == b || (IsWorkspaceTemplate(a) && IsWorkspaceTemplate(b));
}

std::string RunName(int64_t id) { return absl::StrCat("runs/", id); }
int64_t NumberOf(absl::string_view name) {
  size_t slash = name.rfind('/');
  int64_t n = 0;
  if (slash == absl::string_view::npos || !absl::SimpleAtoi(name.substr(slash + 1), &n) || n < 0) return 0;
  return n;
}

std::string WorkspaceName(absl::string_view acronym) { return absl::StrCat("workspaces/", acronym); }
std::string PullRequestName(int64_t id) { return absl::StrCat("pullRequests/", id); }

std::string AcronymOf(absl::string_view workspace_name) {
  absl::ConsumePrefix(&workspace_name, "workspaces/");
  return absl::AsciiStrToUpper(workspace_name);
}

std::string StripTemplatesPrefix(absl::string_view module_name) {
  absl::ConsumePrefix(&module_name, "/");
  absl::ConsumePrefix(&module_name, "templates/");
  return std::string(module_name);
}

std::string StatusKeyBase(absl::string_view template_name) {
  return absl::StrReplaceAll(template_name, {{"-", "_"}});
}

const char* StatusText(v1::ResourceStatus status) {
  switch (status) {
    case v1::REQUESTED: return "Requested";
    case v1::PENDING_APPROVAL: return "Pending Approval";
    case v1::IN_PROGRESS: return "In Progress";
    case v1::COMPLETED: return "Completed";
    case v1::FAILED: return "Failed";
    default: return "Unknown";
  }
}

v1::ResourceStatus ParseStatusText(absl::string_view text) {
  std::string k;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (k == "completed" || k == "complete" || k == "succeeded" || k == "success") return v1::COMPLETED;
  if (k == "inprogress" || k == "running") return v1::IN_PROGRESS;
  if (k == "pendingapproval") return v1::PENDING_APPROVAL;
  if (k == "failed" || k == "error" || k == "failure") return v1::FAILED;
  if (k == "requested") return v1::REQUESTED;
  return v1::UNKNOWN;
}

bool IsTerminal(v1::ResourceStatus status) { return status == v1::COMPLETED || status == v1::FAILED; }

bool IsTerminalRun(v1::Run::State state) { return state == v1::Run::SUCCEEDED || state == v1::Run::FAILED; }

v1::ResourceStatus Aggregate(const google::protobuf::RepeatedPtrField<v1::TemplateStatus>& templates) {
  if (templates.empty()) return v1::REQUESTED;
  // Order of "advancement"; FAILED and UNKNOWN dominate.
  auto rank = [](v1::ResourceStatus s) {
    switch (s) {
      case v1::FAILED: return 0;
      case v1::UNKNOWN: return 1;
      case v1::REQUESTED: return 2;
      case v1::PENDING_APPROVAL: return 3;
      case v1::IN_PROGRESS: return 4;
      case v1::COMPLETED: return 5;
      default: return 2;
    }
  };
  v1::ResourceStatus best = templates[0].status();
  for (const auto& t : templates) {
    if (rank(t.status()) < rank(best)) best = t.status();
  }
  return best;
}

void SetNow(google::protobuf::Timestamp* ts) {
  const int64_t us = absl::ToUnixMicros(absl::Now());
  ts->set_seconds(us / 1000000);
  ts->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

}  // namespace switchboard::resourcing
