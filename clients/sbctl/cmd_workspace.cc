// sbctl workspace ...: workspace requests (docs/wire-formats.md section 1) and records.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/replayed.h"
#include "clients/sbctl/cmd_run.h"
#include "common/auth.h"
#include "wire/run_request.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

int RunRequest(Invocation& inv) {
  std::string path = inv.cli().GetString("file");
  if (path.empty()) return inv.UsageError("--file is required (a docs/wire-formats.md section 1 JSON file, or - for stdin)");
  auto until = UntilState(inv);
  if (!until.ok()) return inv.UsageError(until.status().message());
  if (*until && !inv.cli().GetBool("watch")) return inv.UsageError("--until needs --watch");
  auto text = ReadInputFile(path);
  if (!text.ok()) return inv.LocalError(text.status());
  auto req = wire::RunRequestFromJson(*text, inv.cli().GetString("request_id"));
  if (!req.ok()) return inv.LocalError(req.status());
  // The same file sent again is the same request (idempotent).
  if (req->request_id().empty()) req->set_request_id(absl::StrCat("sbctl-", Sha256Hex(*text).substr(0, 32)));
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  v1::Run run;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->SubmitRun(ctx.get(), *req, &run);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(run, replayed) << "\n";
  } else if (replayed) {
    inv.out() << "already submitted as " << run.name() << " for " << run.workspace() << " (request_id "
              << run.request_id() << "), now " << v1::Run::State_Name(run.state()) << "\n";
  } else {
    inv.out() << "submitted " << run.name() << " for " << run.workspace() << " (request_id " << run.request_id()
              << ")\n";
  }
  if (!inv.cli().GetBool("watch")) return kExitOk;
  return FollowRun(inv, conn, run.name(), *until);
}

std::string Name(const std::string& arg) {
  return absl::StartsWith(arg, "workspaces/") ? arg : absl::StrCat("workspaces/", arg);
}

void PrintWorkspace(Invocation& inv, const v1::Workspace& ws) {
  if (inv.json()) {
    inv.out() << MessageJson(ws) << "\n";
    return;
  }
  inv.out() << "name:          " << ws.name() << "\n"
            << "display name:  " << ws.spec().name() << "\n"
            << "organization:  " << ws.spec().organization().name() << " (" << ws.spec().organization().code()
            << ")\n"
            << "status:        " << StatusWord(ws.status()) << "\n"
            << "users:         " << ws.spec().users_size() << "\n"
            << "last run:      " << ws.last_run() << "\n";
  if (ws.open_runs_size() > 0) inv.out() << "open runs:     " << absl::StrJoin(ws.open_runs(), ", ") << "\n";
  inv.out() << "templates:\n";
  for (const auto& t : ws.templates()) {
    inv.out() << "  " << t.template_() << ": " << (t.status() == v1::UNKNOWN ? t.raw_status() : StatusWord(t.status()))
              << (t.message().empty() ? "" : absl::StrCat(" (", t.message(), ")")) << "\n";
  }
  if (!ws.outputs().empty()) {
    inv.out() << "outputs:\n";
    std::vector<std::string> keys;
    for (const auto& [k, v] : ws.outputs()) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    for (const auto& k : keys) {
      const auto& v = ws.outputs().at(k);
      inv.out() << "  " << k << " = " << (v.redacted() ? "(sensitive)" : MessageJson(v.value())) << "\n";
    }
  }
}

int RunGet(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  v1::GetWorkspaceRequest req;
  req.set_name(Name(inv.args()[0]));
  v1::Workspace ws;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->GetWorkspace(ctx.get(), req, &ws);
  if (!s.ok()) return inv.RpcError(s);
  PrintWorkspace(inv, ws);
  return kExitOk;
}

int RunList(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  v1::ListWorkspacesRequest req;
  req.set_page_size(1000);
  std::vector<std::vector<std::string>> rows;
  do {
    v1::ListWorkspacesResponse resp;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub->ListWorkspaces(ctx.get(), req, &resp);
    if (!s.ok()) return inv.RpcError(s);
    for (const auto& ws : resp.workspaces()) {
      if (inv.json()) {
        inv.out() << MessageJson(ws) << "\n";
        continue;
      }
      std::vector<std::string> t;
      for (const auto& x : ws.templates()) t.push_back(x.template_());
      rows.push_back({ws.name(), StatusWord(ws.status()), ws.spec().name(), absl::StrJoin(t, ","), ws.last_run()});
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  if (!inv.json()) PrintTable(inv.out(), {"NAME", "STATUS", "DISPLAY NAME", "TEMPLATES", "LAST RUN"}, rows);
  return kExitOk;
}

}  // namespace

void RegisterWorkspaceCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "workspace request",
      .args = "--file=REQUEST.json",
      .summary = "Request a workspace or templates for it (docs/wire-formats.md section 1 JSON).",
      .details = "Accepts the resource-run-request JSON as the portal sends it: any key case, 'templates'\n"
                 "for 'modules', a MassTransit envelope, or base64. The request_id defaults to the\n"
                 "envelope's messageId, else a hash of the file, so sending the same file twice\n"
                 "returns the same run. --watch follows the run until it ends (exit 0 when it\n"
                 "succeeds, 1 when it fails).",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("file", "", "Request JSON file; - reads standard input. Required.");
            cli.AddString("request_id", "", "Idempotency key (default: messageId, or a hash of the file).");
            cli.AddBool("watch", false, "Follow the run's events until it ends.");
            UntilFlag(cli);
          },
      .run = RunRequest,
  });
  registry.Add({
      .path = "workspace list",
      .args = "",
      .summary = "List workspaces with their status.",
      .details = "",
      .min_args = 0,
      .max_args = 0,
      .flags = nullptr,
      .run = RunList,
  });
  registry.Add({
      .path = "workspace get",
      .args = "ACRONYM|workspaces/ACRONYM",
      .summary = "Show a workspace: templates, statuses, outputs (sensitive ones for admins only).",
      .details = "",
      .min_args = 1,
      .max_args = 1,
      .flags = nullptr,
      .run = RunGet,
  });
}

}  // namespace switchboard::sbctl
