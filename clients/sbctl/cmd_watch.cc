// sbctl watch SERVICE: a service's WatchEvents stream, printed as it comes;
// with --resource, one WatchMany stream holding a watch per resource.
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/watch_hint.h"
#include "common/status.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "switchboard/v1/notification.grpc.pb.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

using google::protobuf::Message;

// Readable payloads are cut to this many characters; --json prints all.
constexpr size_t kShortPayload = 200;

// "#12  2024-05-01T10:00:00Z  bus_event  {...}" for any of the three event
// messages: they share sequence = 1, create_time = 2 and a `payload` oneof.
std::string EventLine(const Message& event) {
  const auto* desc = event.GetDescriptor();
  const auto* refl = event.GetReflection();
  std::string line;
  if (const auto* f = desc->FindFieldByName("sequence")) absl::StrAppend(&line, "#", refl->GetInt64(event, f));
  if (const auto* f = desc->FindFieldByName("create_time")) {
    const auto& ts = static_cast<const google::protobuf::Timestamp&>(refl->GetMessage(event, f));
    absl::StrAppend(&line, "  ", TimeText(ts));
  }
  const auto* oneof = desc->FindOneofByName("payload");
  const auto* field = oneof != nullptr ? refl->GetOneofFieldDescriptor(event, oneof) : nullptr;
  if (field == nullptr) return absl::StrCat(line, "  (no payload)");
  absl::StrAppend(&line, "  ", field->name());
  if (const auto* op = desc->FindFieldByName("operation"); op != nullptr && op->type() == op->TYPE_STRING) {
    std::string name = refl->GetString(event, op);
    if (!name.empty()) absl::StrAppend(&line, "  ", name);
  }
  if (field->cpp_type() == field->CPPTYPE_MESSAGE) {
    absl::StrAppend(&line, "  ", Shorten(MessageJson(refl->GetMessage(event, field)), kShortPayload));
  } else if (field->cpp_type() == field->CPPTYPE_ENUM) {
    absl::StrAppend(&line, "  ", refl->GetEnum(event, field)->name());
  }
  return line;
}

template <class Event>
using Opener =
    std::function<std::unique_ptr<grpc::ClientReader<Event>>(grpc::ClientContext*, const v1::WatchEventsRequest&)>;

// Streams until the server ends the watch. With `follow`, reconnects after
// the last event seen (or the server's resume point) on ABORTED (lagging)
// and UNAVAILABLE (restart, network), backing off up to 10 s.
template <class Event>
int WatchLoop(Invocation& inv, client::Connection* conn, const Opener<Event>& open, int64_t after, bool follow,
              int64_t limit) {
  int64_t printed = 0;
  const std::string rerun = absl::StrCat("sbctl watch ", inv.args()[0]);
  auto backoff = std::chrono::milliseconds(250);
  while (true) {
    auto ctx = conn->NewStreamContext();
    v1::WatchEventsRequest req;
    req.set_after_sequence(after);
    auto reader = open(ctx.get(), req);
    Event event;
    while (reader->Read(&event)) {
      if (inv.json()) {
        inv.out() << MessageJson(event) << "\n";
      } else {
        inv.out() << EventLine(event) << "\n";
      }
      inv.out().flush();
      if (!inv.out()) {
        ctx->TryCancel();
        reader->Finish();
        return kExitError;  // stdout is gone (e.g. a closed pipe)
      }
      after = std::max(after, event.sequence());
      backoff = std::chrono::milliseconds(250);
      if (limit > 0 && ++printed >= limit) {
        ctx->TryCancel();
        reader->Finish();
        return kExitOk;
      }
    }
    grpc::Status s = reader->Finish();
    std::optional<int64_t> resume = client::ResumeAfter(*ctx);
    // The resume point is the last event the server sent; never step back
    // behind what was printed, so nothing is printed twice.
    if (resume.has_value()) after = std::max(after, *resume);
    bool lagged = s.error_code() == grpc::StatusCode::ABORTED && resume.has_value();
    if (follow && (lagged || s.ok() || conn->IsUnreachable(s))) {
      inv.Note(absl::StrCat(
          "reconnecting after sequence ", after, " (",
          s.ok() ? "stream ended" : absl::StrCat(CodeName(FromGrpcStatus(s).code()), ": ", s.error_message()), ")"));
      if (!lagged) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(10));
      }
      continue;
    }
    if (s.ok()) return kExitOk;
    if (std::optional<int64_t> point = ResumePoint(*conn, *ctx, s, after)) {
      return inv.RpcError(s, absl::StrCat(ResumeHint(rerun, *point), ", or add --follow to reconnect automatically"));
    }
    return inv.RpcError(s);
  }
}

// One WatchMany stream with watch i+1 on resources[i]. Each event is
// printed once, after the resources it is about. With `follow`, a stream
// that ends is opened again with each watch after the last event it got.
template <class Resp, class Open>
int WatchManyLoop(Invocation& inv, client::Connection* conn, const Open& open,
                  const std::vector<std::string>& resources, int64_t after, bool follow, int64_t limit) {
  std::vector<int64_t> cursors(resources.size(), after);
  int64_t printed = 0;
  auto backoff = std::chrono::milliseconds(250);
  while (true) {
    auto ctx = conn->NewStreamContext();
    auto stream = open(ctx.get());
    for (size_t i = 0; i < resources.size(); ++i) {
      v1::WatchManyRequest add;
      add.mutable_add()->set_watch_id(static_cast<int64_t>(i) + 1);
      add.mutable_add()->set_after_sequence(cursors[i]);
      add.mutable_add()->set_resource(resources[i]);
      if (!stream->Write(add)) break;
    }
    Resp m;
    size_t ended = 0;
    while (stream->Read(&m)) {
      std::vector<std::string> names;
      for (int64_t id : m.watch_ids()) {
        if (id >= 1 && static_cast<size_t>(id) <= resources.size()) names.push_back(resources[id - 1]);
      }
      if (m.has_ended()) {
        inv.Note(absl::StrCat("watch of ", absl::StrJoin(names, ", "), " ended: ", m.ended().message()));
        if (++ended == resources.size()) ctx->TryCancel();
        continue;
      }
      if (inv.json()) {
        inv.out() << MessageJson(m) << "\n";
      } else {
        inv.out() << "[" << absl::StrJoin(names, ", ") << "]  " << EventLine(m.event()) << "\n";
      }
      inv.out().flush();
      if (!inv.out()) {
        ctx->TryCancel();
        stream->Finish();
        return kExitError;
      }
      for (int64_t id : m.watch_ids()) {
        if (id >= 1 && static_cast<size_t>(id) <= resources.size()) cursors[id - 1] = m.event().sequence();
      }
      backoff = std::chrono::milliseconds(250);
      if (limit > 0 && ++printed >= limit) {
        ctx->TryCancel();
        stream->Finish();
        return kExitOk;
      }
    }
    grpc::Status s = stream->Finish();
    if (ended == resources.size()) return kExitError;  // every watch was refused; the notes say why
    bool lagged = s.error_code() == grpc::StatusCode::ABORTED;
    if (follow && (lagged || s.ok() || conn->IsUnreachable(s))) {
      inv.Note(absl::StrCat("reconnecting (", s.ok() ? "stream ended" : s.error_message(), ")"));
      if (!lagged) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(10));
      }
      continue;
    }
    if (s.ok()) return kExitOk;
    if (!lagged) return inv.RpcError(s);
    // One --after serves every resource: the lowest cursor loses nothing
    // (some events may print again); --follow resumes each where it was.
    const std::string rerun =
        absl::StrCat("sbctl watch ", inv.args()[0], " --resource=", absl::StrJoin(resources, ","));
    return inv.RpcError(s, absl::StrCat(ResumeHint(rerun, *std::min_element(cursors.begin(), cursors.end())),
                                        ", or add --follow to resume each watch after the last event it printed"));
  }
}

int RunWatch(Invocation& inv) {
  long long after = inv.cli().GetInt("after");
  if (after < 0) return inv.UsageError(absl::StrCat("--after must be 0 or more, got ", after));
  bool follow = inv.cli().GetBool("follow");
  long long limit = inv.cli().GetInt("limit");
  if (limit < 0) return inv.UsageError(absl::StrCat("--limit must be 0 or more, got ", limit));
  const std::string& service = inv.args()[0];
  if (service != "resourcing" && service != "media" && service != "notification") {
    return inv.UsageError(absl::StrCat("unknown service '", service, "'; expected resourcing, media or notification"));
  }
  std::vector<std::string> resources;
  for (absl::string_view r : absl::StrSplit(inv.cli().GetString("resource"), ',', absl::SkipWhitespace())) {
    resources.emplace_back(r);
  }
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  if (service == "resourcing") {
    auto stub = v1::ResourcingService::NewStub(conn->channel());
    if (!resources.empty()) {
      return WatchManyLoop<v1::ResourcingWatchManyResponse>(
          inv, conn, [&](grpc::ClientContext* c) { return stub->WatchMany(c); }, resources, after, follow, limit);
    }
    return WatchLoop<v1::ResourcingEvent>(
        inv, conn, [&](grpc::ClientContext* c, const v1::WatchEventsRequest& r) { return stub->WatchEvents(c, r); },
        after, follow, limit);
  }
  if (service == "media") {
    auto stub = v1::MediaService::NewStub(conn->channel());
    if (!resources.empty()) {
      return WatchManyLoop<v1::MediaWatchManyResponse>(
          inv, conn, [&](grpc::ClientContext* c) { return stub->WatchMany(c); }, resources, after, follow, limit);
    }
    return WatchLoop<v1::MediaEvent>(
        inv, conn, [&](grpc::ClientContext* c, const v1::WatchEventsRequest& r) { return stub->WatchEvents(c, r); },
        after, follow, limit);
  }
  auto stub = v1::NotificationService::NewStub(conn->channel());
  if (!resources.empty()) {
    return WatchManyLoop<v1::NotificationWatchManyResponse>(
        inv, conn, [&](grpc::ClientContext* c) { return stub->WatchMany(c); }, resources, after, follow, limit);
  }
  return WatchLoop<v1::NotificationEvent>(
      inv, conn, [&](grpc::ClientContext* c, const v1::WatchEventsRequest& r) { return stub->WatchEvents(c, r); },
      after, follow, limit);
}

}  // namespace

void RegisterWatchCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "watch",
      .args = "SERVICE",
      .summary = "Stream a service's events (resourcing, media or notification) as they happen.",
      .details = "Replays the event log after --after, then prints each new event as it is appended,\n"
                 "until interrupted (or --limit events). Text lines read '#SEQUENCE  TIME  KIND  PAYLOAD' (payload cut to\n"
                 "200 characters); --json prints each event in full, one JSON object per line.\n"
                 "A watch that falls too far behind is ended by the server with ABORTED and a resume\n"
                 "point: sbctl prints it and exits 1, or with --follow reconnects from it (and after\n"
                 "server restarts) without losing or repeating an event.\n"
                 "--resource=A,B,... watches only events about those resources (an event's resource or\n"
                 "the resource it belongs to: operations/ID, runs/N, workspaces/ACRONYM, ...), all over\n"
                 "one WatchMany stream; --json then prints each WatchMany response (watch_ids are\n"
                 "1-based positions in the --resource list).",
      .min_args = 1,
      .max_args = 1,
      .flags =
          [](Cli& cli) {
            cli.AddInt("after", 0, "Print events whose sequence is greater than this (0 = the whole log).");
            cli.AddInt("limit", 0, "Exit 0 after printing this many events (0 = no limit).");
            cli.AddBool("follow", false,
                        "Reconnect automatically when the stream ends (lagging, server restart, network).");
            cli.AddString("resource", "",
                          "Only events about these resources (comma-separated, e.g. operations/ab12,operations/cd34),\n"
                          "all on one WatchMany stream; each line starts with the [resources] it is about.");
          },
      .run = RunWatch,
  });
}

}  // namespace switchboard::sbctl
