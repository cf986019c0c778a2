// sbctl app ...: managed applications (seed 002) of NotificationService.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/request_id.h"
#include "clients/sbctl/input.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/replayed.h"
#include "clients/sbctl/paging.h"
#include "clients/sbctl/watch_hint.h"
#include "wire/managed_app.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

using v1::Application;

// "applications/subscriptions/...", from that or from the bare resource id
// (with or without its leading "/").
std::string AppName(std::string arg) {
  if (absl::StartsWith(arg, "applications/")) return arg;
  if (absl::StartsWith(arg, "/")) arg.erase(0, 1);
  return absl::StrCat("applications/", arg);
}

const char* StateWord(Application::State state) {
  switch (state) {
    case Application::ACCEPTED: return "Accepted";
    case Application::SUCCEEDED: return "Succeeded";
    case Application::FAILED: return "Failed";
    case Application::DELETING: return "Deleting";
    case Application::DELETED: return "Deleted";
    case Application::DELETE_FAILED: return "DeleteFailed";
    default: return "-";
  }
}

// "succeeded" or "SUCCEEDED" or "DeleteFailed" -> the state.
bool ParseState(const std::string& text, Application::State* state) {
  std::string key = absl::AsciiStrToUpper(text);
  if (key == "DELETEFAILED") key = "DELETE_FAILED";
  return Application::State_Parse(key, state) && *state != Application::STATE_UNSPECIFIED;
}

std::string PlanText(const v1::Plan& plan) {
  if (plan.publisher().empty() && plan.product().empty() && plan.name().empty()) return "-";
  return absl::StrCat(plan.publisher(), "/", plan.product(), "/", plan.name(), "@", plan.version());
}

std::string NotificationText(const v1::ManagedAppNotification& n) {
  return absl::StrCat(wire::ManagedAppEventTypeName(n.event_type()), " ",
                      wire::ProvisioningStateName(n.provisioning_state()), " at ", TimeText(n.event_time()),
                      n.stale() ? " (stale: older than the state, kept in history only)" : "");
}

void PrintApplication(Invocation& inv, const Application& app) {
  if (inv.json()) {
    inv.out() << MessageJson(app) << "\n";
    return;
  }
  inv.out() << "name:        " << app.name() << "\n"
            << "state:       " << StateWord(app.state()) << " (since " << TimeText(app.state_time()) << ")\n";
  if (!app.application_definition_id().empty()) {
    inv.out() << "definition:  " << app.application_definition_id() << "\n";
  }
  if (app.has_plan()) inv.out() << "plan:        " << PlanText(app.plan()) << "\n";
  if (!app.billing_details().resource_usage_id().empty()) {
    inv.out() << "usage id:    " << app.billing_details().resource_usage_id() << "\n";
  }
  if (!app.error().code().empty() || !app.error().message().empty()) {
    inv.out() << "error:       " << app.error().code() << ": " << app.error().message() << "\n";
    for (const auto& d : app.error().details()) inv.out() << "             - " << d.code() << ": " << d.message() << "\n";
  }
  inv.out() << "history:\n";
  for (const auto& n : app.history()) inv.out() << "  " << NotificationText(n) << "\n";
}

int RunRecord(Invocation& inv) {
  std::string path = inv.cli().GetString("file");
  if (path.empty()) return inv.UsageError("--file is required (a notification JSON file, or - for stdin)");
  auto text = ReadInputFile(path);
  if (!text.ok()) return inv.LocalError(text.status());
  auto notification = wire::ManagedAppNotificationFromJson(*text);
  if (!notification.ok()) return inv.LocalError(notification.status());
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::RecordManagedAppNotificationRequest req;
  *req.mutable_notification() = std::move(*notification);
  req.set_request_id(CommandRequestId(inv, "notification", true));
  v1::RecordManagedAppNotificationResponse resp;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->RecordManagedAppNotification(ctx.get(), req, &resp);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(resp, replayed) << "\n";
    return kExitOk;
  }
  const Application& app = resp.application();
  inv.out() << (replayed ? "already recorded (same request_id), nothing changed: "
                 : resp.duplicate() ? "duplicate, nothing changed: "
                 : resp.stale()  ? "recorded as stale (older than the state): "
                                 : "recorded: ")
            << app.name() << " is " << StateWord(app.state()) << "\n";
  return kExitOk;
}

int RunGet(Invocation& inv) {
  if (inv.args()[0].empty()) return inv.UsageError("NAME must not be empty");
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::GetApplicationRequest req;
  req.set_name(AppName(inv.args()[0]));
  Application app;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->GetApplication(ctx.get(), req, &app);
  if (!s.ok()) return inv.RpcError(s);
  PrintApplication(inv, app);
  return kExitOk;
}

int RunList(Invocation& inv) {
  v1::ListApplicationsRequest req;
  req.set_page_size(200);
  if (std::string state = inv.cli().GetString("state"); !state.empty()) {
    Application::State parsed;
    if (!ParseState(state, &parsed)) {
      return inv.UsageError(absl::StrCat("--state '", state,
                                         "' is not a state; use Accepted, Succeeded, Failed, Deleting, Deleted or "
                                         "DeleteFailed"));
    }
    req.set_state(parsed);
  }
  req.set_application_definition_id(inv.cli().GetString("definition"));
  if (std::string plan = inv.cli().GetString("plan"); !plan.empty()) {
    // PUBLISHER/PRODUCT/NAME[@VERSION]; empty parts match anything.
    std::vector<std::string> parts = absl::StrSplit(plan, '/');
    if (parts.size() != 3) return inv.UsageError("--plan must be PUBLISHER/PRODUCT/NAME[@VERSION]");
    std::vector<std::string> name_version = absl::StrSplit(parts[2], absl::MaxSplits('@', 1));
    req.mutable_plan()->set_publisher(parts[0]);
    req.mutable_plan()->set_product(parts[1]);
    req.mutable_plan()->set_name(name_version[0]);
    if (name_version.size() == 2) req.mutable_plan()->set_version(name_version[1]);
  }
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  std::vector<std::vector<std::string>> rows;
  int rc = ForEachPage<v1::ListApplicationsResponse>(
      inv, conn, req,
      [&](grpc::ClientContext* ctx, const v1::ListApplicationsRequest& r, v1::ListApplicationsResponse* out) {
        return stub->ListApplications(ctx, r, out);
      },
      [&](const v1::ListApplicationsResponse& resp) {
        for (const auto& app : resp.applications()) {
          if (inv.json()) {
            inv.out() << MessageJson(app) << "\n";
            continue;
          }
          rows.push_back({app.name(), StateWord(app.state()), TimeText(app.state_time()),
                          app.application_definition_id().empty() ? "-" : app.application_definition_id(),
                          PlanText(app.plan()), std::to_string(app.history_size())});
        }
        return true;
      });
  if (rc != kExitOk) return rc;
  if (!inv.json()) PrintTable(inv.out(), {"NAME", "STATE", "SINCE", "DEFINITION", "PLAN", "EVENTS"}, rows);
  return kExitOk;
}

int RunWatch(Invocation& inv) {
  long long after = inv.cli().GetInt("after");
  if (after < 0) return inv.UsageError(absl::StrCat("--after must be 0 or more, got ", after));
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::WatchApplicationsRequest req;
  req.set_after_sequence(after);
  if (!inv.args().empty()) req.set_name(AppName(inv.args()[0]));
  auto ctx = conn->NewStreamContext();
  auto reader = stub->WatchApplications(ctx.get(), req);
  v1::NotificationEvent event;
  while (reader->Read(&event)) {
    after = std::max<long long>(after, event.sequence());
    if (inv.json()) {
      inv.out() << MessageJson(event) << "\n";
    } else if (event.has_application()) {
      const Application& app = event.application();
      inv.out() << "#" << event.sequence() << "  " << TimeText(event.create_time()) << "  " << app.name() << "  "
                << StateWord(app.state());
      if (app.history_size() > 0) inv.out() << "  (" << NotificationText(app.history(app.history_size() - 1)) << ")";
      inv.out() << "\n";
    }
    inv.out().flush();
    if (!inv.out()) {
      ctx->TryCancel();
      reader->Finish();
      return kExitError;
    }
  }
  grpc::Status s = reader->Finish();
  if (s.ok()) return kExitOk;
  if (std::optional<int64_t> point = ResumePoint(*conn, *ctx, s, after)) {
    std::string rerun = absl::StrCat("sbctl app watch", inv.args().empty() ? "" : " " + inv.args()[0]);
    return inv.RpcError(s, ResumeHint(rerun, *point));
  }
  return inv.RpcError(s);
}

}  // namespace

void RegisterAppCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "app record",
      .args = "--file=NOTIFICATION.json",
      .summary = "Record a managed-application notification (docs/wire-formats.md section 5) as Azure delivers it.",
      .details = "The file is checked locally with the gateway's decoder, so a bad notification is\n"
                 "reported with the field at fault (exit 2). A duplicate changes nothing; an event\n"
                 "older than the application's state is kept in its history only.",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("file", "", "Notification JSON file; - reads standard input. Required.");
            cli.AddString("request_id", "", "Idempotency key (optional).");
          },
      .run = RunRecord,
  });
  registry.Add({
      .path = "app get",
      .args = "NAME|APPLICATION_ID",
      .summary = "Show one managed application with its state and full history.",
      .details = "NAME is applications/subscriptions/..., or the bare application resource id.",
      .min_args = 1,
      .max_args = 1,
      .flags = nullptr,
      .run = RunGet,
  });
  registry.Add({
      .path = "app list",
      .args = "",
      .summary = "List managed applications, optionally by state, definition or plan.",
      .details = "",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("state", "", "Accepted, Succeeded, Failed, Deleting, Deleted or DeleteFailed.");
            cli.AddString("definition", "", "applicationDefinitionId (service catalog applications).");
            cli.AddString("plan", "", "PUBLISHER/PRODUCT/NAME[@VERSION] (Marketplace); empty parts match all.");
          },
      .run = RunList,
  });
  registry.Add({
      .path = "app watch",
      .args = "[NAME|APPLICATION_ID]",
      .summary = "Stream application state changes (one application, or all).",
      .details = "Replays the log after --after, then follows it live until interrupted.",
      .min_args = 0,
      .max_args = 1,
      .flags = [](Cli& cli) { cli.AddInt("after", 0, "Start after this log sequence (0 = from the start)."); },
      .run = RunWatch,
  });
}

}  // namespace switchboard::sbctl
