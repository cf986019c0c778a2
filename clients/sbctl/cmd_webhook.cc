// sbctl webhook ...: outbound webhook subscriptions and their deliveries.
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/lib/webhook_receiver.h"
#include "clients/sbctl/command.h"
#include "common/webhook_signature.h"
#include "clients/sbctl/input.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/replayed.h"
#include "clients/sbctl/request_id.h"
#include "common/uuid.h"
#include "clients/sbctl/paging.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

using google::protobuf::util::TimeUtil;

std::string HookName(const std::string& arg) {
  return absl::StartsWith(arg, "webhooks/") ? arg : absl::StrCat("webhooks/", arg);
}

const char* StateWord(v1::DeliveryState state) {
  switch (state) {
    case v1::DELIVERY_PENDING: return "pending";
    case v1::DELIVERY_RETRYING: return "retrying";
    case v1::DELIVERED: return "delivered";
    case v1::DELIVERY_DEAD_LETTERED: return "dead-lettered";
    default: return "-";
  }
}

int RunCreate(Invocation& inv) {
  std::string url = inv.cli().GetString("url");
  if (url.empty()) return inv.UsageError("--url is required (http:// or https://)");
  std::vector<std::string> bindings = absl::StrSplit(inv.cli().GetString("bind"), ',', absl::SkipWhitespace());
  if (bindings.empty()) return inv.UsageError("--bind is required: topic patterns, comma-separated");
  // The secret comes from a file or the environment, never from argv where
  // every local user can read it.
  auto read = SecretFromFlags(inv.cli().GetString("secret"), "secret_file", inv.cli().GetString("secret_file"));
  if (!read.ok()) return inv.LocalError(read.status());
  std::string secret = *read;
  if (secret.empty()) {
    return inv.UsageError("a signing secret is required: --secret_file=FILE or SWITCHBOARD_WEBHOOK_SECRET");
  }
  v1::CreateWebhookSubscriptionRequest req;
  // The server names a webhook after its request_id (webhooks/<id>), so the
  // default is a bare UUID: the name stays short.
  const std::string given = inv.cli().GetString("request_id");
  req.set_request_id(given.empty() ? NewUuid() : given);
  auto* hook = req.mutable_webhook();
  hook->set_url(url);
  for (const auto& b : bindings) hook->add_bindings(b);
  hook->set_secret(secret);
  if (long long s = inv.cli().GetInt("time_limit_seconds"); s > 0) hook->mutable_time_limit()->set_seconds(s);
  if (long long ms = inv.cli().GetInt("attempt_timeout_ms"); ms > 0) {
    *hook->mutable_attempt_timeout() = TimeUtil::MillisecondsToDuration(ms);
  }
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::WebhookSubscription created;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->CreateWebhookSubscription(ctx.get(), req, &created);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(created, replayed) << "\n";
  } else {
    inv.out() << (replayed ? "already created " : "created ") << created.name() << " -> " << created.url() << " for "
              << absl::StrJoin(created.bindings(), ",") << "\n";
  }
  return kExitOk;
}

void HookRow(const v1::WebhookSubscription& h, std::vector<std::vector<std::string>>* rows) {
  rows->push_back({h.name(), h.url(), absl::StrJoin(h.bindings(), ","), TimeUtil::ToString(h.time_limit()),
                   TimeText(h.create_time())});
}

int RunList(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::ListWebhookSubscriptionsRequest req;
  req.set_page_size(200);
  std::vector<std::vector<std::string>> rows;
  int rc = ForEachPage<v1::ListWebhookSubscriptionsResponse>(
      inv, conn, req,
      [&](grpc::ClientContext* c, const v1::ListWebhookSubscriptionsRequest& r,
          v1::ListWebhookSubscriptionsResponse* out) { return stub->ListWebhookSubscriptions(c, r, out); },
      [&](const v1::ListWebhookSubscriptionsResponse& resp) {
        for (const auto& h : resp.webhooks()) {
          if (inv.json()) {
            inv.out() << MessageJson(h) << "\n";
          } else {
            HookRow(h, &rows);
          }
        }
        return true;
      });
  if (rc != kExitOk) return rc;
  if (!inv.json()) PrintTable(inv.out(), {"NAME", "URL", "BINDINGS", "TIME_LIMIT", "CREATED"}, rows);
  return kExitOk;
}

int RunDelete(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::DeleteWebhookSubscriptionRequest req;
  req.set_name(HookName(inv.args()[0]));
  req.set_request_id(CommandRequestId(inv, inv.args()[0], false));
  v1::WebhookSubscription hook;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->DeleteWebhookSubscription(ctx.get(), req, &hook);
  if (!s.ok()) return inv.RpcError(s);
  inv.out() << "deleted " << hook.name() << "\n";
  return kExitOk;
}

int RunDeliveries(Invocation& inv) {
  v1::ListDeliveriesRequest req;
  if (!inv.args().empty()) req.set_webhook(HookName(inv.args()[0]));
  if (std::string state = inv.cli().GetString("state"); !state.empty()) {
    std::string key = absl::AsciiStrToLower(state);
    if (key == "pending") {
      req.set_state(v1::DELIVERY_PENDING);
    } else if (key == "retrying") {
      req.set_state(v1::DELIVERY_RETRYING);
    } else if (key == "delivered") {
      req.set_state(v1::DELIVERED);
    } else if (key == "dead-lettered" || key == "dead_lettered") {
      req.set_state(v1::DELIVERY_DEAD_LETTERED);
    } else {
      return inv.UsageError(
          absl::StrCat("--state '", state, "' is not a state; use pending, retrying, delivered or dead-lettered"));
    }
  }
  req.set_page_size(200);
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  std::vector<std::vector<std::string>> rows;
  int rc = ForEachPage<v1::ListDeliveriesResponse>(
      inv, conn, req,
      [&](grpc::ClientContext* c, const v1::ListDeliveriesRequest& r, v1::ListDeliveriesResponse* out) {
        return stub->ListDeliveries(c, r, out);
      },
      [&](const v1::ListDeliveriesResponse& resp) {
        for (const auto& d : resp.deliveries()) {
          if (inv.json()) {
            inv.out() << MessageJson(d) << "\n";
            continue;
          }
          std::string last = "-";
          if (d.attempts_size() > 0) {
            const auto& a = d.attempts(d.attempts_size() - 1);
            last = a.status_code() != 0 ? std::to_string(a.status_code()) : Shorten(a.error(), 40);
          }
          rows.push_back({d.name(), d.event_name(), StateWord(d.state()), std::to_string(d.attempts_size()), last,
                          d.state() == v1::DELIVERY_RETRYING ? TimeText(d.next_attempt_time()) : "-"});
        }
        return true;
      });
  if (rc != kExitOk) return rc;
  if (!inv.json()) PrintTable(inv.out(), {"NAME", "EVENT_NAME", "STATE", "ATTEMPTS", "LAST", "NEXT_ATTEMPT"}, rows);
  return kExitOk;
}

// A receiver for trying webhooks out: verifies each delivery's signature
// (when given the secret) and can fail the first N on purpose, to show the
// retries.
int RunListen(Invocation& inv) {
  long long port = inv.cli().GetInt("port");
  long long fail_first = inv.cli().GetInt("fail_first");
  long long count = inv.cli().GetInt("count");
  if (port < 0 || port > 65535) return inv.UsageError(absl::StrCat("--port must be 0 to 65535, got ", port));
  if (fail_first < 0 || count < 0) return inv.UsageError("--fail_first and --count must not be negative");
  auto read = SecretFromFlags(inv.cli().GetString("secret"), "secret_file", inv.cli().GetString("secret_file"));
  if (!read.ok()) return inv.LocalError(read.status());
  std::string secret = *read;
  std::mutex mu;
  std::atomic<long long> seen{0}, accepted{0};
  auto handler = [&](const client::WebhookReceiver::Request& req) {
    client::WebhookReceiver::Reply reply;
    auto header = [&req](const std::string& name) {
      auto it = req.headers.find(name);
      return it == req.headers.end() ? std::string() : it->second;
    };
    std::string check = "not checked (no secret given)";
    if (!secret.empty()) {
      absl::Status s = VerifyWebhook(secret, header("x-switchboard-timestamp"), header("x-switchboard-signature"),
                                     req.body, absl::ToUnixSeconds(absl::Now()));
      check = s.ok() ? "signature ok" : absl::StrCat("REJECTED: ", s.message());
      if (!s.ok()) reply.status = 401;
    }
    long long n = ++seen;
    if (reply.status == 200 && n <= fail_first) reply.status = 503;
    std::lock_guard<std::mutex> lock(mu);
    inv.out() << "#" << n << "  " << header("x-switchboard-event") << "  " << header("x-switchboard-event-id") << "  "
              << check << "  -> " << reply.status << "\n";
    if (inv.json()) inv.out() << req.body << "\n";
    inv.out().flush();
    if (reply.status == 200) ++accepted;
    return reply;
  };
  auto receiver = client::WebhookReceiver::Listen(handler, static_cast<int>(port));
  if (!receiver.ok()) {
    return inv.Fail(absl::StrCat(receiver.status().message(), " (pick another --port, or 0 for a free one)"));
  }
  const std::string url = (*receiver)->url();
  inv.Note(absl::StrCat("listening on ", url, "; create the webhook with --url=", url));
  while (count == 0 || accepted < count) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (*receiver)->Stop();
  return kExitOk;
}

}  // namespace

void RegisterWebhookCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "webhook create",
      .args = "",
      .summary = "Subscribe a URL to bus events: signed POSTs of each matching envelope, with retries.",
      .details = "Each delivery is a POST of the Gorg envelope with X-Switchboard-Timestamp and\n"
                 "X-Switchboard-Signature: sha256=HEX(HMAC-SHA256(secret, TIMESTAMP + \".\" + BODY)).\n"
                 "The secret is read from --secret_file or SWITCHBOARD_WEBHOOK_SECRET (16+ characters).\n"
                 "See docs/notification.md for the retry policy.",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddString("url", "", "http:// or https:// endpoint. Required.");
            cli.AddString("bind", "", "Topic patterns, comma-separated, e.g. 'notify.#'. Required.");
            cli.AddString("secret_file", "", "File holding the HMAC signing secret.");
            cli.AddString("secret", "", "The signing secret (from the environment only).", "SWITCHBOARD_WEBHOOK_SECRET");
            cli.AddInt("time_limit_seconds", 0, "Give up on a delivery after this long (0 = server default, 10 h).");
            cli.AddInt("attempt_timeout_ms", 0, "Timeout of one POST (0 = server default, 10 s).");
            cli.AddString("request_id", "", "Idempotency key (optional).");
          },
      .run = RunCreate,
  });
  registry.Add({
      .path = "webhook listen",
      .args = "",
      .summary = "Run a local webhook receiver that prints and verifies each delivery.",
      .details = "Listens on 127.0.0.1 (--port, 0 = a free port; the URL is printed on stderr). With the\n"
                 "secret (--secret_file or SWITCHBOARD_WEBHOOK_SECRET) it checks X-Switchboard-Signature\n"
                 "and the timestamp (5 minutes tolerance) and answers 401 to a bad one. --fail_first=N\n"
                 "answers 503 to the first N deliveries, to watch Switchboard retry. Runs until\n"
                 "interrupted, or until --count deliveries were accepted. --json also prints each body.",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddInt("port", 0, "Port on 127.0.0.1 (0 = a free port).");
            cli.AddString("secret_file", "", "File holding the webhook's signing secret.");
            cli.AddString("secret", "", "The signing secret (from the environment only).", "SWITCHBOARD_WEBHOOK_SECRET");
            cli.AddInt("fail_first", 0, "Answer 503 to this many deliveries first.");
            cli.AddInt("count", 0, "Exit after accepting this many deliveries (0 = run until interrupted).");
          },
      .run = RunListen,
  });
  registry.Add({
      .path = "webhook list",
      .args = "",
      .summary = "List webhook subscriptions (secrets are never shown).",
      .details = "",
      .min_args = 0,
      .max_args = 0,
      .flags = nullptr,
      .run = RunList,
  });
  registry.Add({
      .path = "webhook delete",
      .args = "NAME",
      .summary = "Delete a webhook subscription; pending deliveries stop.",
      .details = "",
      .min_args = 1,
      .max_args = 1,
      .flags = nullptr,
      .run = RunDelete,
  });
  registry.Add({
      .path = "webhook deliveries",
      .args = "[NAME]",
      .summary = "List deliveries (of one webhook, or all) with their attempts and state.",
      .details = "",
      .min_args = 0,
      .max_args = 1,
      .flags = [](Cli& cli) { cli.AddString("state", "", "pending, retrying, delivered or dead-lettered."); },
      .run = RunDeliveries,
  });
}

}  // namespace switchboard::sbctl
