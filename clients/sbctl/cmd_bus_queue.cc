// sbctl bus subscribe|subscriptions|unsubscribe|deadletters ...: durable
// bus subscriptions (named queues) and their dead letters.
#include <string>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/paging.h"
#include "clients/sbctl/replayed.h"
#include "clients/sbctl/request_id.h"
#include "wire/gorg_envelope.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

using Stub = v1::NotificationService::Stub;

std::string SubName(const std::string& arg) {
  return absl::StartsWith(arg, "subscriptions/") ? arg : absl::StrCat("subscriptions/", arg);
}

std::vector<std::string> Bindings(const std::string& flag) {
  return absl::StrSplit(flag, ',', absl::SkipWhitespace());
}

// Gets the subscription, creating it with `bindings` when it is missing.
grpc::Status EnsureSubscription(Invocation& inv, client::Connection* conn, Stub& stub, const std::string& queue,
                                const std::vector<std::string>& bindings, v1::Subscription* sub) {
  {
    v1::GetSubscriptionRequest req;
    req.set_name(SubName(queue));
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub.GetSubscription(ctx.get(), req, sub);
    if (s.error_code() != grpc::StatusCode::NOT_FOUND) {
      if (s.ok() && !bindings.empty() &&
          std::vector<std::string>(sub->bindings().begin(), sub->bindings().end()) != bindings) {
        inv.Note(absl::StrCat(sub->name(), " exists with bindings ", absl::StrJoin(sub->bindings(), ","),
                              "; --bind is ignored (unsubscribe first to change them)"));
      }
      return s;
    }
    if (bindings.empty()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat(req.name(), " does not exist; give --bind PATTERN[,PATTERN] to create it"));
    }
  }
  v1::CreateSubscriptionRequest req;
  req.mutable_subscription()->set_queue(queue);
  for (const auto& b : bindings) req.mutable_subscription()->add_bindings(b);
  req.mutable_subscription()->set_app_id(inv.cli().GetString("app_id"));
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub.CreateSubscription(ctx.get(), req, sub);
  if (s.ok()) inv.Note(absl::StrCat("created ", sub->name(), " bound to ", absl::StrJoin(bindings, ",")));
  return s;
}

std::string DeliveryLine(const v1::Delivery& d) {
  const auto& env = d.envelope();
  return absl::StrCat(env.event_name(), "  ", env.event_uuid(), "  attempt ", d.attempt(), "  softfail-count ",
                      d.softfail_count(), "  errors ", env.errors_count());
}

// Answers one delivery as the flags say: Ack, or Nack soft/hard.
grpc::Status Answer(Invocation& inv, client::Connection* conn, Stub& stub, const v1::Delivery& d,
                    const std::string& nack, std::string* outcome) {
  auto ctx = conn->NewUnaryContext();
  if (nack.empty()) {
    v1::AckRequest req;
    req.set_subscription(d.subscription());
    req.set_delivery_id(d.delivery_id());
    v1::AckResponse resp;
    *outcome = "acked";
    return stub.Ack(ctx.get(), req, &resp);
  }
  v1::NackRequest req;
  req.set_subscription(d.subscription());
  req.set_delivery_id(d.delivery_id());
  req.set_error_type(nack == "soft" ? v1::BusError::SOFTERROR : v1::BusError::HARDERROR);
  req.set_error_message(inv.cli().GetString("message"));
  v1::NackResponse resp;
  grpc::Status s = stub.Nack(ctx.get(), req, &resp);
  *outcome = resp.dead_lettered() ? "nacked, dead-lettered"
                                  : absl::StrCat("nacked, redelivery at ", TimeText(resp.redeliver_time()));
  return s;
}

int RunSubscribe(Invocation& inv) {
  const std::string& queue = inv.args()[0];
  std::string nack = inv.cli().GetString("nack");
  if (!nack.empty() && nack != "soft" && nack != "hard") {
    return inv.UsageError(absl::StrCat("--nack must be soft or hard, got '", nack, "'"));
  }
  bool soft = inv.cli().GetBool("nack-soft"), hard = inv.cli().GetBool("nack-hard");
  if (soft + hard + !nack.empty() > 1) return inv.UsageError("give one of --nack, --nack-soft and --nack-hard");
  if (soft) nack = "soft";
  if (hard) nack = "hard";
  if (!nack.empty() && inv.cli().GetString("message").empty()) {
    return inv.UsageError("--message is required with --nack (it goes into the envelope's errors[])");
  }
  long long count = inv.cli().GetInt("count");
  if (count < 0) return inv.UsageError(absl::StrCat("--count must be 0 (no limit) or more, got ", count));
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::Subscription sub;
  grpc::Status s = EnsureSubscription(inv, conn, *stub, queue, Bindings(inv.cli().GetString("bind")), &sub);
  if (!s.ok()) return inv.RpcError(s);

  v1::SubscribeRequest req;
  req.set_subscription(sub.name());
  auto ctx = conn->NewStreamContext();
  auto reader = stub->Subscribe(ctx.get(), req);
  v1::Delivery d;
  long long answered = 0;
  while ((count == 0 || answered < count) && reader->Read(&d)) {
    std::string outcome;
    grpc::Status a = Answer(inv, conn, *stub, d, nack, &outcome);
    if (!a.ok()) {
      ctx->TryCancel();
      reader->Finish();
      return inv.RpcError(a);
    }
    ++answered;
    if (inv.json()) {
      inv.out() << MessageJson(d) << "\n";
    } else {
      inv.out() << DeliveryLine(d) << "  " << outcome << "\n"
                << "  " << Shorten(wire::GorgEnvelopeToJson(d.envelope()), 400) << "\n";
    }
    inv.out().flush();
    if (!inv.out()) break;
  }
  if (count > 0 && answered >= count) {
    ctx->TryCancel();
    reader->Finish();
    return kExitOk;
  }
  s = reader->Finish();
  return s.ok() ? kExitOk : inv.RpcError(s);
}

std::string DurationText(const google::protobuf::Duration& d) {
  return google::protobuf::util::TimeUtil::ToString(d);
}

int RunCreate(Invocation& inv) {
  std::vector<std::string> bindings = Bindings(inv.cli().GetString("bind"));
  if (bindings.empty()) return inv.UsageError("--bind is required: topic patterns, comma-separated");
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::CreateSubscriptionRequest req;
  req.set_request_id(CommandRequestId(inv, inv.args()[0], true));
  auto* sub = req.mutable_subscription();
  sub->set_queue(inv.args()[0]);
  for (const auto& b : bindings) sub->add_bindings(b);
  sub->set_app_id(inv.cli().GetString("app_id"));
  if (long long ms = inv.cli().GetInt("retry_delay_ms"); ms > 0) {
    *sub->mutable_retry_delay() = google::protobuf::util::TimeUtil::MillisecondsToDuration(ms);
  }
  if (long long ms = inv.cli().GetInt("visibility_timeout_ms"); ms > 0) {
    *sub->mutable_visibility_timeout() = google::protobuf::util::TimeUtil::MillisecondsToDuration(ms);
  }
  if (long long n = inv.cli().GetInt("max_attempts"); n > 0) sub->set_max_attempts(static_cast<int32_t>(n));
  v1::Subscription created;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->CreateSubscription(ctx.get(), req, &created);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(created, replayed) << "\n";
  } else {
    inv.out() << (replayed ? "already created " : "created ") << created.name() << " bound to " << absl::StrJoin(created.bindings(), ",") << "\n";
  }
  return kExitOk;
}

int RunSubscriptions(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::ListSubscriptionsRequest req;
  req.set_page_size(200);
  std::vector<std::vector<std::string>> rows;
  int rc = ForEachPage<v1::ListSubscriptionsResponse>(
      inv, conn, req,
      [&](grpc::ClientContext* c, const v1::ListSubscriptionsRequest& r, v1::ListSubscriptionsResponse* out) {
        return stub->ListSubscriptions(c, r, out);
      },
      [&](const v1::ListSubscriptionsResponse& resp) {
        for (const auto& sub : resp.subscriptions()) {
          if (inv.json()) {
            inv.out() << MessageJson(sub) << "\n";
            continue;
          }
          rows.push_back({sub.queue(), absl::StrJoin(sub.bindings(), ","), sub.app_id(),
                          std::to_string(sub.ready_count()), std::to_string(sub.in_flight_count()),
                          std::to_string(sub.dead_letter_count()), DurationText(sub.retry_delay()),
                          std::to_string(sub.max_attempts())});
        }
        return true;
      });
  if (rc != kExitOk) return rc;
  if (!inv.json()) {
    PrintTable(inv.out(),
               {"QUEUE", "BINDINGS", "APP_ID", "READY", "IN_FLIGHT", "DEAD", "RETRY_DELAY", "MAX_ATTEMPTS"}, rows);
  }
  return kExitOk;
}

int RunUnsubscribe(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::DeleteSubscriptionRequest req;
  req.set_name(SubName(inv.args()[0]));
  req.set_request_id(CommandRequestId(inv, inv.args()[0], false));
  v1::Subscription sub;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->DeleteSubscription(ctx.get(), req, &sub);
  if (!s.ok()) return inv.RpcError(s);
  inv.out() << "deleted " << sub.name() << "\n";
  return kExitOk;
}

int RunDeadLetters(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::ListDeadLettersRequest req;
  if (!inv.args().empty()) req.set_subscription(SubName(inv.args()[0]));
  req.set_page_size(200);
  std::vector<std::vector<std::string>> rows;
  int rc = ForEachPage<v1::ListDeadLettersResponse>(
      inv, conn, req,
      [&](grpc::ClientContext* c, const v1::ListDeadLettersRequest& r, v1::ListDeadLettersResponse* out) {
        return stub->ListDeadLetters(c, r, out);
      },
      [&](const v1::ListDeadLettersResponse& resp) {
        for (const auto& dl : resp.dead_letters()) {
          if (inv.json()) {
            inv.out() << MessageJson(dl) << "\n";
            continue;
          }
          rows.push_back({dl.name(), TimeText(dl.dead_letter_time()), dl.envelope().event_name(),
                          dl.envelope().event_uuid(), std::to_string(dl.envelope().errors_count()),
                          Shorten(dl.reason(), 60)});
        }
        return true;
      });
  if (rc != kExitOk) return rc;
  if (!inv.json()) PrintTable(inv.out(), {"NAME", "DEAD_SINCE", "EVENT_NAME", "EVENT_UUID", "ERRORS", "REASON"}, rows);
  return kExitOk;
}

int RunDeadLetterGet(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::GetDeadLetterRequest req;
  req.set_name(inv.args()[0]);
  v1::DeadLetter dl;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->GetDeadLetter(ctx.get(), req, &dl);
  if (!s.ok()) return inv.RpcError(s);
  if (inv.json()) {
    inv.out() << MessageJson(dl) << "\n";
    return kExitOk;
  }
  inv.out() << "name:         " << dl.name() << "\n"
            << "dead since:   " << TimeText(dl.dead_letter_time()) << "\n"
            << "reason:       " << dl.reason() << "\n"
            << "envelope:\n"
            << wire::GorgEnvelopeToJson(dl.envelope()) << "\n";
  return kExitOk;
}

int RunReplay(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::ReplayDeadLetterRequest req;
  req.set_name(inv.args()[0]);
  req.set_request_id(CommandRequestId(inv, inv.args()[0], true));
  v1::DeadLetter dl;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->ReplayDeadLetter(ctx.get(), req, &dl);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(dl, replayed) << "\n";
    return kExitOk;
  }
  inv.out() << (replayed ? "already replayed " : "replayed ") << dl.name() << " onto " << dl.subscription() << "\n";
  return kExitOk;
}

int RunPurge(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::NotificationService::NewStub(conn->channel());
  v1::PurgeDeadLettersRequest req;
  req.set_subscription(SubName(inv.args()[0]));
  req.set_request_id(CommandRequestId(inv, inv.args()[0], true));
  v1::PurgeDeadLettersResponse resp;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->PurgeDeadLetters(ctx.get(), req, &resp);
  if (!s.ok()) return inv.RpcError(s);
  const bool replayed = client::Replayed(*ctx);
  if (inv.json()) {
    inv.out() << ReplayedJson(resp, replayed) << "\n";
    return kExitOk;
  }
  inv.out() << (replayed ? "already purged " : "purged ") << resp.purged() << " dead letter" << (resp.purged() == 1 ? "" : "s") << " of "
            << req.subscription() << "\n";
  return kExitOk;
}

void RequestIdFlag(Cli& cli) { cli.AddString("request_id", "", "Idempotency key (optional)."); }

}  // namespace

void RegisterBusQueueCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "bus subscribe",
      .args = "QUEUE",
      .summary = "Consume a durable bus subscription: print each delivery and Ack (or Nack) it.",
      .details = "Creates the subscription when it is missing and --bind is given. Messages published\n"
                 "while nobody is connected wait on the queue. By default each delivery is acked\n"
                 "after it is printed; --nack=soft appends an error and schedules a redelivery after\n"
                 "the subscription's retry delay, --nack=hard dead-letters at once. Runs until\n"
                 "interrupted, or until --count deliveries were answered.",
      .min_args = 1,
      .max_args = 1,
      .flags =
          [](Cli& cli) {
            cli.AddString("bind", "", "Topic patterns for a new subscription, comma-separated: 'request.#,*.gapps.*'.");
            cli.AddString("app_id", "", "Subscriber app id for a new subscription (error_sender of its Nacks).");
            cli.AddString("nack", "", "Answer with a Nack instead of an Ack: soft or hard.");
            cli.AddBool("nack-soft", false, "Same as --nack=soft.");
            cli.AddBool("nack-hard", false, "Same as --nack=hard.");
            cli.AddString("message", "", "Error message for --nack (required with it).");
            cli.AddInt("count", 0, "Exit after answering this many deliveries (0 = run until interrupted).");
          },
      .run = RunSubscribe,
  });
  registry.Add({
      .path = "bus subscription create",
      .args = "QUEUE",
      .summary = "Create a durable bus subscription: matching events queue up until consumed.",
      .details = "Unset durations and attempts take the server defaults (--bus_visibility_timeout_ms,\n"
                 "--bus_retry_delay_ms, --bus_max_attempts of switchboardd).",
      .min_args = 1,
      .max_args = 1,
      .flags =
          [](Cli& cli) {
            cli.AddString("bind", "", "Topic patterns, comma-separated: 'request.#,*.gapps.*'. Required.");
            cli.AddString("app_id", "", "Subscriber app id (error_sender of its Nacks); default: QUEUE minus _job_q.");
            cli.AddInt("retry_delay_ms", 0, "Redelivery delay after a soft error (0 = server default).");
            cli.AddInt("visibility_timeout_ms", 0, "Redelivery after an unanswered delivery (0 = server default).");
            cli.AddInt("max_attempts", 0, "Dead-letter after this many soft errors (0 = server default).");
            RequestIdFlag(cli);
          },
      .run = RunCreate,
  });
  registry.Add({
      .path = "bus subscriptions",
      .args = "",
      .summary = "List bus subscriptions with their ready, in-flight and dead-letter counts.",
      .details = "",
      .min_args = 0,
      .max_args = 0,
      .flags = nullptr,
      .run = RunSubscriptions,
  });
  registry.Add({
      .path = "bus unsubscribe",
      .args = "QUEUE",
      .summary = "Delete a bus subscription with its waiting messages and dead letters.",
      .details = "",
      .min_args = 1,
      .max_args = 1,
      .flags = nullptr,
      .run = RunUnsubscribe,
  });
  registry.Add({
      .path = "bus deadletters",
      .args = "[QUEUE]",
      .summary = "List dead letters (of one subscription, or all).",
      .details = "",
      .min_args = 0,
      .max_args = 1,
      .flags = nullptr,
      .run = RunDeadLetters,
  });
  registry.Add({
      .path = "bus deadletter get",
      .args = "NAME",
      .summary = "Show one dead letter with its envelope and errors[].",
      .details = "NAME is subscriptions/QUEUE/deadLetters/ID, as 'bus deadletters' prints it.",
      .min_args = 1,
      .max_args = 1,
      .flags = nullptr,
      .run = RunDeadLetterGet,
  });
  registry.Add({
      .path = "bus deadletter replay",
      .args = "NAME",
      .summary = "Put a dead letter back on its queue for delivery.",
      .details = "",
      .min_args = 1,
      .max_args = 1,
      .flags = RequestIdFlag,
      .run = RunReplay,
  });
  registry.Add({
      .path = "bus deadletter purge",
      .args = "QUEUE",
      .summary = "Delete every dead letter of a subscription.",
      .details = "",
      .min_args = 1,
      .max_args = 1,
      .flags = RequestIdFlag,
      .run = RunPurge,
  });
}

}  // namespace switchboard::sbctl
