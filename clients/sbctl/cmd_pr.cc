// sbctl pr ...: pull requests of the resourcing service.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/replayed.h"
#include "common/auth.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

std::string Name(const std::string& arg) {
  return absl::StartsWith(arg, "pullRequests/") ? arg : absl::StrCat("pullRequests/", arg);
}

void PrintPr(Invocation& inv, const v1::PullRequest& pr) {
  if (inv.json()) {
    inv.out() << MessageJson(pr) << "\n";
    return;
  }
  inv.out() << pr.name() << " " << v1::PullRequest::State_Name(pr.state()) << ": " << pr.title() << "\n";
  if (!pr.closed_by().empty()) inv.out() << "  closed by " << pr.closed_by() << "\n";
  if (!pr.merge_commit().empty()) inv.out() << "  merge commit " << pr.merge_commit() << "\n";
  if (pr.conflicts_size() > 0) inv.out() << "  conflicts: " << absl::StrJoin(pr.conflicts(), ", ") << "\n";
}

int RunList(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  v1::ListPullRequestsRequest req;
  req.set_page_size(1000);
  std::string state = inv.cli().GetString("state");
  if (!state.empty()) {
    v1::PullRequest::State st;
    if (!v1::PullRequest::State_Parse(state, &st)) return inv.UsageError("--state must be ACTIVE, MERGED or ABANDONED");
    req.set_state(st);
  }
  req.set_workspace(inv.cli().GetString("workspace"));
  std::vector<std::vector<std::string>> rows;
  do {
    v1::ListPullRequestsResponse resp;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub->ListPullRequests(ctx.get(), req, &resp);
    if (!s.ok()) return inv.RpcError(s);
    for (const auto& pr : resp.pull_requests()) {
      if (inv.json()) {
        inv.out() << MessageJson(pr) << "\n";
        continue;
      }
      rows.push_back({pr.name(), v1::PullRequest::State_Name(pr.state()), pr.workspace(), pr.created_by(),
                      pr.title()});
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  if (!inv.json()) PrintTable(inv.out(), {"NAME", "STATE", "WORKSPACE", "CREATED BY", "TITLE"}, rows);
  return kExitOk;
}

// The one ACTIVE pull request of --workspace, for `pr approve|abandon
// --workspace=FISH`: an error naming them when there are none or several.
absl::StatusOr<std::string> ActivePrOf(client::Connection* conn, const std::string& workspace) {
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  v1::ListPullRequestsRequest req;
  req.set_page_size(1000);
  req.set_state(v1::PullRequest::ACTIVE);
  req.set_workspace(workspace);
  std::vector<std::string> names;
  do {
    v1::ListPullRequestsResponse resp;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub->ListPullRequests(ctx.get(), req, &resp);
    if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    for (const auto& pr : resp.pull_requests()) names.push_back(pr.name());
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  if (names.empty()) {
    return absl::NotFoundError(absl::StrCat("workspace ", workspace, " has no active pull request (sbctl pr list)"));
  }
  if (names.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat("workspace ", workspace, " has ", names.size(),
                                                      " active pull requests (", absl::StrJoin(names, ", "),
                                                      "): name one"));
  }
  return names[0];
}

template <class Req, class Call>
int Close(Invocation& inv, Call call) {
  const std::string workspace = inv.cli().GetString("workspace");
  if (inv.args().empty() == workspace.empty()) {
    return inv.UsageError("name the pull request (ID or pullRequests/ID) or give --workspace=ACRONYM, not both");
  }
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  Req req;
  if (workspace.empty()) {
    req.set_name(Name(inv.args()[0]));
  } else {
    auto name = ActivePrOf(conn, workspace);
    if (!name.ok()) return inv.LocalError(name.status());
    req.set_name(*name);
  }
  req.set_comment(inv.cli().GetString("comment"));
  std::string id = inv.cli().GetString("request_id");
  req.set_request_id(id.empty() ? absl::StrCat("sbctl-", inv.command(), "-", req.name()) : id);
  v1::PullRequest pr;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = call(*stub, ctx.get(), req, &pr);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(pr, replayed) << "\n";
    return kExitOk;
  }
  if (replayed) inv.out() << "already done by an earlier request with request_id " << req.request_id() << ":\n";
  PrintPr(inv, pr);
  return kExitOk;
}

void CloseFlags(Cli& cli) {
  cli.AddString("workspace", "", "Instead of naming the PR: the one active PR of this workspace (FISH).");
  cli.AddString("comment", "", "A comment kept with the decision.");
  cli.AddString("request_id", "", "Idempotency key (default: derived from the command and PR).");
}

}  // namespace

void RegisterPrCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "pr list",
      .args = "",
      .summary = "List pull requests of the resourcing service.",
      .details = "",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("state", "", "Only ACTIVE, MERGED or ABANDONED ones.");
            cli.AddString("workspace", "", "Only this workspace's (FISH or workspaces/FISH).");
          },
      .run = RunList,
  });
  registry.Add({
      .path = "pr approve",
      .args = "[ID|pullRequests/ID]",
      .summary = "Approve a pull request: merge it into main and start the pipeline (admin role).",
      .details = "A merge conflict leaves the PR active and lists the conflicting paths (exit 1).\n"
                 "--workspace=ACRONYM approves that workspace's one active pull request.",
      .min_args = 0,
      .max_args = 1,
      .flags = CloseFlags,
      .run = [](Invocation& inv) {
        return Close<v1::ApprovePullRequestRequest>(inv, [](auto& stub, auto* ctx, const auto& req, auto* pr) {
          return stub.ApprovePullRequest(ctx, req, pr);
        });
      },
  });
  registry.Add({
      .path = "pr abandon",
      .args = "[ID|pullRequests/ID]",
      .summary = "Abandon a pull request: its templates become Failed (admin role).",
      .details = "--workspace=ACRONYM abandons that workspace's one active pull request.",
      .min_args = 0,
      .max_args = 1,
      .flags = CloseFlags,
      .run = [](Invocation& inv) {
        return Close<v1::AbandonPullRequestRequest>(inv, [](auto& stub, auto* ctx, const auto& req, auto* pr) {
          return stub.AbandonPullRequest(ctx, req, pr);
        });
      },
  });
}

}  // namespace switchboard::sbctl
