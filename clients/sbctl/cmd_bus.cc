// sbctl bus ...: the Gorg event bus of NotificationService.
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/input.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/replayed.h"
#include "wire/gorg_envelope.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

constexpr char kBusEventPrefix[] = "busEvents/";

int RunPublish(Invocation& inv) {
  std::string path = inv.cli().GetString("file");
  if (path.empty()) return inv.UsageError("--file is required (an envelope JSON file, or - for stdin)");
  auto text = ReadInputFile(path);
  if (!text.ok()) return inv.LocalError(text.status());
  auto envelope = wire::GorgEnvelopeFromJson(*text);
  if (!envelope.ok()) return inv.LocalError(envelope.status());

  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::PublishRequest req;
  req.set_request_id(inv.cli().GetString("request_id"));
  *req.mutable_envelope() = std::move(*envelope);
  v1::PublishResponse resp;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->Publish(ctx.get(), req, &resp);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(resp, replayed) << "\n";
  } else if (replayed) {
    // Its event_uuid was published before: nothing was queued now.
    inv.out() << "already published " << resp.name() << " (sequence " << resp.sequence() << ")\n";
  } else {
    inv.out() << "published " << resp.name() << " at sequence " << resp.sequence() << ", queued on "
              << resp.matched_subscriptions() << " subscription" << (resp.matched_subscriptions() == 1 ? "" : "s")
              << "\n";
  }
  return kExitOk;
}

int RunGet(Invocation& inv) {
  std::string name = inv.args()[0];
  if (name.empty()) return inv.UsageError("NAME must not be empty");
  if (!absl::StartsWith(name, kBusEventPrefix)) name = absl::StrCat(kBusEventPrefix, name);
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::GetBusEventRequest req;
  req.set_name(name);
  v1::BusEvent event;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->GetBusEvent(ctx.get(), req, &event);
  if (!s.ok()) return inv.RpcError(s);
  if (inv.json()) {
    inv.out() << MessageJson(event) << "\n";
    return kExitOk;
  }
  inv.out() << "name:         " << event.name() << "\n"
            << "sequence:     " << event.sequence() << "\n"
            << "published:    " << TimeText(event.publish_time()) << "\n"
            << "publisher:    " << (event.publisher().empty() ? "-" : event.publisher()) << "\n"
            << "envelope:\n";
  // The envelope as the bus carries it (docs/wire-formats.md section 3), indented.
  auto wire = nlohmann::ordered_json::parse(wire::GorgEnvelopeToJson(event.envelope()), nullptr, false);
  inv.out() << wire.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  return kExitOk;
}

int RunEvents(Invocation& inv) {
  long long page_size = inv.cli().GetInt("page_size");
  long long limit = inv.cli().GetInt("limit");
  if (page_size < 1 || page_size > 1000) {
    return inv.UsageError(absl::StrCat("--page_size must be 1 to 1000, got ", page_size));
  }
  if (limit < 0) return inv.UsageError(absl::StrCat("--limit must be 0 (no limit) or more, got ", limit));
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::ListBusEventsRequest req;
  req.set_binding(inv.cli().GetString("binding"));
  std::vector<std::vector<std::string>> rows;
  long long printed = 0;
  do {
    if (limit > 0)
      req.set_page_size(static_cast<int32_t>(std::min(page_size, limit - printed)));
    else
      req.set_page_size(static_cast<int32_t>(page_size));
    v1::ListBusEventsResponse resp;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub->ListBusEvents(ctx.get(), req, &resp);
    if (!s.ok()) return inv.RpcError(s);
    for (const auto& e : resp.events()) {
      if (limit > 0 && printed >= limit) break;
      ++printed;
      if (inv.json()) {
        inv.out() << MessageJson(e) << "\n";
      } else {
        const auto& env = e.envelope();
        rows.push_back({std::to_string(e.sequence()), TimeText(e.publish_time()), env.event_name(),
                        env.event_sender_id(), env.event_uuid(), std::to_string(env.errors_count())});
      }
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty() && (limit == 0 || printed < limit));
  if (!inv.json()) {
    PrintTable(inv.out(), {"SEQUENCE", "PUBLISHED", "EVENT_NAME", "SENDER", "EVENT_UUID", "ERRORS"}, rows);
  }
  return kExitOk;
}

}  // namespace

void RegisterBusCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "bus publish",
      .args = "--file=ENVELOPE.json",
      .summary = "Publish a Gorg envelope (docs/wire-formats.md section 3) on the event bus.",
      .details = "The file is checked locally with the gateway's own decoder before it is sent, so a\n"
                 "bad envelope is reported with the field at fault (exit 2). event_uuid is the\n"
                 "idempotency key: publishing the same envelope again returns the first result.",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("file", "", "Envelope JSON file to publish; - reads standard input. Required.");
            cli.AddString("request_id", "", "Idempotency key; defaults to the envelope's event_uuid.");
          },
      .run = RunPublish,
  });
  registry.Add({
      .path = "bus get",
      .args = "NAME|EVENT_UUID",
      .summary = "Show one published bus event (busEvents/EVENT_UUID, or the bare uuid).",
      .details = "",
      .min_args = 1,
      .max_args = 1,
      .flags = nullptr,
      .run = RunGet,
  });
  registry.Add({
      .path = "bus events",
      .args = "",
      .summary = "List published bus events (all pages), optionally matching a topic pattern.",
      .details = "Fetches every page unless --limit is given. --binding takes a topic pattern where\n"
                 "'*' matches one word and '#' zero or more, e.g. 'request.gapps.#'.",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("binding", "", "Topic pattern to match event names against; empty lists all.");
            cli.AddInt("limit", 0, "Stop after this many events (0 = all).");
            cli.AddInt("page_size", 100, "Events fetched per call (1-1000).");
          },
      .run = RunEvents,
  });
}

}  // namespace switchboard::sbctl
