// sbctl run ...: resourcing runs; plus the run printing and following that
// the workspace and pipeline groups share (declared in cmd_run.h).
#include "clients/sbctl/cmd_run.h"

#include "absl/strings/match.h"

#include <algorithm>
#include <optional>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/paging.h"

namespace switchboard::sbctl {

const char* StatusWord(v1::ResourceStatus status) {
  switch (status) {
    case v1::REQUESTED: return "Requested";
    case v1::PENDING_APPROVAL: return "Pending Approval";
    case v1::IN_PROGRESS: return "In Progress";
    case v1::COMPLETED: return "Completed";
    case v1::FAILED: return "Failed";
    case v1::UNKNOWN: return "Unknown";
    default: return "-";
  }
}

std::string ResourcingEventLine(const v1::ResourcingEvent& e) {
  std::string head = absl::StrCat("#", e.sequence(), "  ", TimeText(e.create_time()), "  ");
  switch (e.payload_case()) {
    case v1::ResourcingEvent::kRun: {
      const auto& r = e.run();
      std::string line = absl::StrCat(head, "run ", r.name(), " ", v1::Run::State_Name(r.state()));
      if (!r.pull_request().empty() && r.state() == v1::Run::AWAITING_APPROVAL) {
        absl::StrAppend(&line, "  (", r.pull_request(), " waits for an admin: sbctl pr approve ", r.pull_request(), ")");
      }
      if (!r.error().empty()) absl::StrAppend(&line, "  error: ", r.error());
      return line;
    }
    case v1::ResourcingEvent::kStatus: {
      std::vector<std::string> parts;
      for (const auto& t : e.status().templates()) {
        parts.push_back(absl::StrCat(t.template_(), ": ",
                                     t.status() == v1::UNKNOWN ? t.raw_status() : StatusWord(t.status())));
      }
      return absl::StrCat(head, "status ", e.status().project_cd(), "  ", absl::StrJoin(parts, ", "));
    }
    case v1::ResourcingEvent::kPullRequest:
      return absl::StrCat(head, "pull request ", e.pull_request().name(), " ",
                          v1::PullRequest::State_Name(e.pull_request().state()));
    case v1::ResourcingEvent::kPipeline: {
      const auto& p = e.pipeline();
      std::string line = absl::StrCat(head, "pipeline ", p.project_folder(), " ",
                                      v1::PipelineEvent::Phase_Name(p.phase()));
      if (p.phase() == v1::PipelineEvent::FAILED) absl::StrAppend(&line, " (exit ", p.exit_code(), ")");
      return line;
    }
    default:
      return "";
  }
}

void PrintRun(Invocation& inv, const v1::Run& run) {
  if (inv.json()) {
    inv.out() << MessageJson(run) << "\n";
    return;
  }
  std::vector<std::string> modules;
  for (const auto& m : run.modules()) modules.push_back(absl::StrCat(m.name(), "@", m.version()));
  inv.out() << "name:          " << run.name() << "\n"
            << "workspace:     " << run.workspace() << "\n"
            << "state:         " << v1::Run::State_Name(run.state()) << "\n"
            << "templates:     " << absl::StrJoin(modules, ", ") << "\n"
            << "requested by:  " << run.requesting_user_email() << "\n"
            << "request_id:    " << run.request_id() << "\n";
  if (!run.branch().empty()) inv.out() << "branch:        " << run.branch() << "\n";
  if (!run.pull_request().empty()) inv.out() << "pull request:  " << run.pull_request() << "\n";
  if (run.commits_size() > 0) inv.out() << "commits:       " << absl::StrJoin(run.commits(), ", ") << "\n";
  if (!run.error().empty()) inv.out() << "error:         " << run.error() << "\n";
  for (const auto& t : run.templates()) {
    inv.out() << "  " << t.template_() << ": " << StatusWord(t.status())
              << (t.message().empty() ? "" : absl::StrCat(" (", t.message(), ")")) << "\n";
  }
}

absl::StatusOr<std::optional<v1::Run::State>> UntilState(const Invocation& inv) {
  std::string text = inv.cli().GetString("until");
  if (text.empty()) return std::optional<v1::Run::State>();
  v1::Run::State state;
  if (!v1::Run::State_Parse(absl::AsciiStrToUpper(text), &state) || state == v1::Run::STATE_UNSPECIFIED) {
    std::vector<std::string> names;
    for (int i = 0; i < v1::Run::State_ARRAYSIZE; ++i) {
      if (v1::Run::State_IsValid(i) && i != v1::Run::STATE_UNSPECIFIED) {
        names.push_back(v1::Run::State_Name(static_cast<v1::Run::State>(i)));
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("--until must be a run state (", absl::StrJoin(names, ", "), "), got '", text, "'"));
  }
  return std::optional<v1::Run::State>(state);
}

void UntilFlag(Cli& cli) {
  cli.AddString("until", "",
                "Stop following (exit 0) once the run reaches this state, e.g. AWAITING_APPROVAL;\n"
                "a run that ends first exits as without it.");
}

int FollowRun(Invocation& inv, client::Connection* conn, const std::string& run,
              std::optional<v1::Run::State> until) {
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  int64_t after = 0;
  auto backoff = std::chrono::milliseconds(250);
  for (;;) {
    auto ctx = conn->NewStreamContext();
    v1::WatchRunRequest req;
    req.set_name(run);
    req.set_after_sequence(after);
    auto reader = stub->WatchRun(ctx.get(), req);
    v1::ResourcingEvent e;
    while (reader->Read(&e)) {
      after = e.sequence();
      if (inv.json()) {
        inv.out() << MessageJson(e) << "\n";
      } else if (std::string line = ResourcingEventLine(e); !line.empty()) {
        inv.out() << line << "\n";
      }
      inv.out().flush();
      if (until && e.has_run() && e.run().name() == run && e.run().state() == *until) {
        ctx->TryCancel();
        reader->Finish();
        return kExitOk;
      }
      if (e.has_run() && e.run().name() == run &&
          (e.run().state() == v1::Run::SUCCEEDED || e.run().state() == v1::Run::FAILED)) {
        ctx->TryCancel();
        reader->Finish();
        return e.run().state() == v1::Run::SUCCEEDED ? kExitOk : kExitError;
      }
    }
    grpc::Status s = reader->Finish();
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE && s.error_code() != grpc::StatusCode::ABORTED) {
      return inv.RpcError(s);
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
  }
}



namespace {

std::string Name(const std::string& arg) { return absl::StartsWith(arg, "runs/") ? arg : absl::StrCat("runs/", arg); }

int RunGet(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  v1::GetRunRequest req;
  req.set_name(Name(inv.args()[0]));
  v1::Run run;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->GetRun(ctx.get(), req, &run);
  if (!s.ok()) return inv.RpcError(s);
  PrintRun(inv, run);
  return kExitOk;
}

int RunWatch(Invocation& inv) {
  auto until = UntilState(inv);
  if (!until.ok()) return inv.UsageError(until.status().message());
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  return FollowRun(inv, conn, Name(inv.args()[0]), *until);
}

int RunList(Invocation& inv) {
  long long page_size = inv.cli().GetInt("page_size");
  long long limit = inv.cli().GetInt("limit");
  if (page_size < 1 || page_size > 1000) {
    return inv.UsageError(absl::StrCat("--page_size must be 1 to 1000, got ", page_size));
  }
  if (limit < 0) return inv.UsageError(absl::StrCat("--limit must be 0 (no limit) or more, got ", limit));
  v1::ListRunsRequest req;
  req.set_page_size(static_cast<int32_t>(limit > 0 ? std::min(page_size, limit) : page_size));
  if (std::string ws = inv.cli().GetString("workspace"); !ws.empty()) {
    req.set_workspace(absl::StartsWith(ws, "workspaces/") ? ws : absl::StrCat("workspaces/", ws));
  }
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::ResourcingService::NewStub(conn->channel());
  std::vector<std::vector<std::string>> rows;
  long long printed = 0;
  int rc = ForEachPage<v1::ListRunsResponse>(
      inv, conn, req,
      [&](grpc::ClientContext* c, const v1::ListRunsRequest& r, v1::ListRunsResponse* out) {
        return stub->ListRuns(c, r, out);
      },
      [&](const v1::ListRunsResponse& resp) {
        for (const auto& run : resp.runs()) {
          if (limit > 0 && printed >= limit) return false;
          ++printed;
          if (inv.json()) {
            inv.out() << MessageJson(run) << "\n";
            continue;
          }
          std::vector<std::string> modules;
          for (const auto& m : run.modules()) modules.push_back(absl::StrCat(m.name(), "@", m.version()));
          rows.push_back({run.name(), v1::Run::State_Name(run.state()), run.workspace(), absl::StrJoin(modules, ","),
                          run.requesting_user_email(), TimeText(run.create_time())});
        }
        return limit == 0 || printed < limit;
      });
  if (rc != kExitOk) return rc;
  if (!inv.json()) {
    PrintTable(inv.out(), {"NAME", "STATE", "WORKSPACE", "TEMPLATES", "REQUESTED BY", "CREATED"}, rows);
  }
  return kExitOk;
}

}  // namespace

void RegisterRunCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "run list",
      .args = "",
      .summary = "List resourcing runs (all pages), optionally of one workspace.",
      .details = "Fetches every page unless --limit is given. Text output is a table (NAME, STATE,\n"
                 "WORKSPACE, TEMPLATES, REQUESTED BY, CREATED); --json prints each Run, one per line.",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("workspace", "", "Only this workspace's runs (FISH or workspaces/FISH).");
            cli.AddInt("limit", 0, "Stop after this many runs (0 = all).");
            cli.AddInt("page_size", 100, "Runs fetched per call (1-1000).");
          },
      .run = RunList,
  });
  registry.Add({
      .path = "run get",
      .args = "ID|runs/ID",
      .summary = "Show a resourcing run: state, templates, branch, commits, pull request.",
      .details = "",
      .min_args = 1,
      .max_args = 1,
      .flags = nullptr,
      .run = RunGet,
  });
  registry.Add({
      .path = "run watch",
      .args = "ID|runs/ID",
      .summary = "Follow a run's events from its submission until it ends (exit 1 if it fails).",
      .details = "With --until=STATE it stops as soon as the run reaches STATE (exit 0), for scripts\n"
                 "that act at that point: --until=AWAITING_APPROVAL, then 'sbctl pr approve'.",
      .min_args = 1,
      .max_args = 1,
      .flags = UntilFlag,
      .run = RunWatch,
  });
}

}  // namespace switchboard::sbctl
