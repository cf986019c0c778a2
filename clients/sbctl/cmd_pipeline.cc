// sbctl pipeline report: post a `terraform output -json` map (docs/wire-formats.md
// section 2) as an external pipeline would.
#include <string>

#include "absl/strings/str_cat.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/replayed.h"
#include "clients/sbctl/cmd_run.h"
#include "common/auth.h"
#include "wire/terraform_output.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

int RunReport(Invocation& inv) {
  std::string path = inv.cli().GetString("file");
  if (path.empty()) return inv.UsageError("--file is required (terraform output -json, or - for stdin)");
  auto text = ReadInputFile(path);
  if (!text.ok()) return inv.LocalError(text.status());
  std::string id = inv.cli().GetString("request_id");
  auto req = wire::TerraformOutputFromJson(*text, id.empty() ? absl::StrCat("sbctl-", Sha256Hex(*text).substr(0, 32))
                                                               : id);
  if (!req.ok()) return inv.LocalError(req.status());
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  v1::ReportPipelineOutputsResponse resp;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->ReportPipelineOutputs(ctx.get(), *req, &resp);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(resp, replayed) << "\n";
    return kExitOk;
  }
  if (replayed) {
    // The changes listed were those of the first report; none now.
    inv.out() << resp.workspace().name() << ": already reported (request_id " << req->request_id()
              << "); nothing changed now\n";
    return kExitOk;
  }
  if (resp.changed().empty()) {
    inv.out() << resp.workspace().name() << ": no template status changed\n";
  }
  for (const auto& t : resp.changed()) {
    inv.out() << resp.workspace().name() << " " << t.template_() << ": "
              << (t.status() == v1::UNKNOWN ? t.raw_status() : StatusWord(t.status())) << "\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterPipelineCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "pipeline report",
      .args = "--file=OUTPUTS.json",
      .summary = "Report pipeline outputs (terraform output -json, docs/wire-formats.md section 2) for a workspace.",
      .details = "project_cd names the workspace. Sending the same report twice changes nothing.",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("file", "", "Outputs JSON file; - reads standard input. Required.");
            cli.AddString("request_id", "", "Idempotency key (default: a hash of the file).");
          },
      .run = RunReport,
  });
}

}  // namespace switchboard::sbctl
