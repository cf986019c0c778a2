// sbctl pr ...: pull requests of the resourcing service.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/output.h"
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

template <class Req, class Call>
int Close(Invocation& inv, Call call) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  Req req;
  req.set_name(Name(inv.args()[0]));
  req.set_comment(inv.cli().GetString("comment"));
  std::string id = inv.cli().GetString("request_id");
  req.set_request_id(id.empty() ? absl::StrCat("sbctl-", inv.command(), "-", req.name()) : id);
  v1::PullRequest pr;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = call(*stub, ctx.get(), req, &pr);
  if (!s.ok()) return inv.RpcError(s);
  PrintPr(inv, pr);
  return kExitOk;
}

void CloseFlags(Cli& cli) {
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
      .args = "ID|pullRequests/ID",
      .summary = "Approve a pull request: merge it into main and start the pipeline (admin role).",
      .details = "A merge conflict leaves the PR active and lists the conflicting paths (exit 1).",
      .min_args = 1,
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
      .args = "ID|pullRequests/ID",
      .summary = "Abandon a pull request: its templates become Failed (admin role).",
      .details = "",
      .min_args = 1,
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
