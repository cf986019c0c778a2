#include "server/notification/webhooks.h"

#include <random>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/uuid.h"
#include "wire/gorg_envelope.h"
#include "server/core/fingerprint.h"
#include "server/core/list_page.h"
#include "server/notification/http_post.h"
#include "server/notification/topic.h"
#include "common/webhook_signature.h"

namespace switchboard::notification {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kWebhookKind[] = "webhook";
constexpr char kWebhooksPrefix[] = "webhooks/";

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

std::string DeliveryName(absl::string_view hook, int64_t seq) {
  return absl::StrFormat("%s/deliveries/%020d", hook, seq);
}

std::string HookOf(absl::string_view delivery) { return std::string(delivery.substr(0, delivery.find("/deliveries/"))); }

absl::Status ValidateUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook.url '", url, "' must start with http:// or https://"));
  }
  if (rest.empty() || rest[0] == '/' || rest[0] == ':' || rest[0] == '?') {
    return absl::InvalidArgumentError(absl::StrCat("webhook.url '", url, "' has no host"));
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ') {
      return absl::InvalidArgumentError("webhook.url holds spaces or control characters; percent-encode them");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDuration(absl::string_view field, const google::protobuf::Duration& d, absl::Duration min,
                           absl::Duration max) {
  absl::Duration v = absl::Microseconds(TimeUtil::DurationToMicroseconds(d));
  if (v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", absl::FormatDuration(v), "; give between ",
                                                   absl::FormatDuration(min), " and ", absl::FormatDuration(max)));
  }
  return absl::OkStatus();
}

v1::WebhookSubscription Public(v1::WebhookSubscription hook) {
  hook.clear_secret();
  return hook;
}

bool Retryable(int status) { return status == 0 || status == 429 || status >= 500; }

}  // namespace

WebhookEngine::WebhookEngine(core::Store* store, WebhookOptions options) : store_(store), options_(options) {}

WebhookEngine::~WebhookEngine() { Close(); }

absl::Status WebhookEngine::Load() {
  std::string after;
  std::lock_guard<std::mutex> lock(mu_);
  for (;;) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kWebhookKind, after, 1000));
    for (auto& [name, value] : page.items) {
      v1::WebhookSubscription hook;
      if (!hook.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
      hooks_[name] = std::move(hook);
    }
    if (page.next_after.empty()) break;
    after = page.next_after;
  }
  after.clear();
  for (;;) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kDeliveryKind, after, 1000));
    for (auto& [name, value] : page.items) {
      v1::WebhookDelivery d;
      if (!d.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
      if (d.state() != v1::DELIVERY_PENDING && d.state() != v1::DELIVERY_RETRYING) continue;
      if (hooks_.count(d.webhook()) == 0) continue;
      due_.insert({TimeUtil::TimestampToMicroseconds(d.next_attempt_time()), name});
    }
    if (page.next_after.empty()) break;
    after = page.next_after;
  }
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  return absl::OkStatus();
}

void WebhookEngine::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  // Attempt records still committing call back into this engine.
  std::unique_lock<std::mutex> lock(mu_);
  records_done_.wait(lock, [this] { return records_in_flight_ == 0; });
}

int64_t WebhookEngine::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(due_.size());
}

void WebhookEngine::Create(const v1::CreateWebhookSubscriptionRequest& request, WebhookDone done) {
  v1::WebhookSubscription hook = request.webhook();
  if (absl::Status s = ValidateUrl(hook.url()); !s.ok()) return done(s);
  if (hook.bindings().empty()) {
    return done(absl::InvalidArgumentError("webhook.bindings is empty; give at least one topic pattern, e.g. #"));
  }
  for (int i = 0; i < hook.bindings_size(); ++i) {
    if (absl::Status s = ValidateBinding(absl::StrCat("webhook.bindings[", i, "]"), hook.bindings(i)); !s.ok()) {
      return done(s);
    }
  }
  if (hook.secret().size() < 16) {
    return done(absl::InvalidArgumentError(
        "webhook.secret must be at least 16 characters: it keys the HMAC-SHA256 signature of every delivery"));
  }
  if (!hook.has_time_limit()) hook.mutable_time_limit()->set_seconds(10 * 3600);
  if (!hook.has_attempt_timeout()) hook.mutable_attempt_timeout()->set_seconds(10);
  for (absl::Status s :
       {CheckDuration("webhook.time_limit", hook.time_limit(), absl::Seconds(1), absl::Hours(24 * 7)),
        CheckDuration("webhook.attempt_timeout", hook.attempt_timeout(), absl::Milliseconds(100), absl::Minutes(5))}) {
    if (!s.ok()) return done(s);
  }
  if (hook.name().empty()) {
    hook.set_name(absl::StrCat(kWebhooksPrefix, request.request_id().empty() ? NewUuid() : request.request_id()));
  }
  absl::string_view id = hook.name();
  if (!absl::ConsumePrefix(&id, kWebhooksPrefix) || id.empty() || absl::StrContains(id, "/") || id.size() > 128) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("webhook.name '", hook.name(), "' must be webhooks/{id} with a non-empty id without '/'")));
  }
  *hook.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(NowUs());

  core::Mutation m;
  m.scope = "notification.CreateWebhookSubscription";
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request);
  m.prepare = [hook](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    ASSIGN_OR_RETURN(auto existing, txn.Get(kWebhookKind, hook.name()));
    if (existing.has_value()) return absl::AlreadyExistsError(absl::StrCat(hook.name(), " already exists"));
    self.writes.push_back({kWebhookKind, hook.name(), hook.SerializeAsString(), false});
    return absl::OkStatus();
  };
  m.make_response = [hook](int64_t) { return hook.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    v1::WebhookSubscription stored;
    stored.ParseFromString(r->response);
    if (!r->replayed) {
      // A repeat must not bring back a webhook deleted since.
      std::lock_guard<std::mutex> lock(mu_);
      hooks_[stored.name()] = stored;
    }
    done(core::MaybeReplayed(Public(std::move(stored)), r->replayed));
  });
}

void WebhookEngine::Delete(const v1::DeleteWebhookSubscriptionRequest& request, WebhookDone done) {
  auto hook = Get(request.name());
  core::Mutation m;
  m.scope = "notification.DeleteWebhookSubscription";
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request);
  if (absl::IsNotFound(hook.status())) {
    // Gone: perhaps deleted by this very request_id the first time.
    return core::CommitOrRefuse(*store_, std::move(m), hook.status(), [done = std::move(done)](auto r) {
      if (!r.ok()) return done(r.status());
      v1::WebhookSubscription first;
      first.ParseFromString(r->response);
      done(core::Replayed(std::move(first)));
    });
  }
  if (!hook.ok()) return done(hook.status());
  m.writes.push_back({kWebhookKind, hook->name(), "", true});
  m.make_response = [h = *hook](int64_t) { return h.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, name = hook->name(), done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    {
      std::lock_guard<std::mutex> lock(mu_);
      hooks_.erase(name);
    }
    v1::WebhookSubscription out;
    out.ParseFromString(r->response);
    done(core::MaybeReplayed<v1::WebhookSubscription>(std::move(out), r->replayed));
  });
}

absl::StatusOr<v1::WebhookSubscription> WebhookEngine::Get(absl::string_view name) const {
  if (!absl::StartsWith(name, kWebhooksPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("name '", Echo(name), "' must be webhooks/{id}"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hooks_.find(std::string(name));
  if (it == hooks_.end()) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
  return Public(it->second);
}

absl::StatusOr<v1::ListWebhookSubscriptionsResponse> WebhookEngine::List(
    const v1::ListWebhookSubscriptionsRequest& request) const {
  ASSIGN_OR_RETURN(auto page, core::ListPage<v1::WebhookSubscription>(*store_, kWebhookKind, request.page_size(),
                                                                      request.page_token(), nullptr));
  v1::ListWebhookSubscriptionsResponse resp;
  for (auto& h : page.items) *resp.add_webhooks() = Public(std::move(h));
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

absl::StatusOr<v1::ListDeliveriesResponse> WebhookEngine::ListDeliveries(const v1::ListDeliveriesRequest& req) const {
  std::string prefix;
  if (!req.webhook().empty()) {
    if (!absl::StartsWith(req.webhook(), kWebhooksPrefix)) {
      return absl::InvalidArgumentError(absl::StrCat("webhook '", req.webhook(), "' must be webhooks/{id}"));
    }
    prefix = absl::StrCat(req.webhook(), "/deliveries/");
  }
  std::function<bool(const v1::WebhookDelivery&)> keep;
  if (req.state() != v1::DELIVERY_STATE_UNSPECIFIED) {
    keep = [&req](const v1::WebhookDelivery& d) { return d.state() == req.state(); };
  }
  ASSIGN_OR_RETURN(auto page, core::ListPage<v1::WebhookDelivery>(*store_, kDeliveryKind, req.page_size(),
                                                                   req.page_token(), keep, prefix));
  v1::ListDeliveriesResponse resp;
  for (auto& d : page.items) *resp.add_deliveries() = std::move(d);
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

bool WebhookEngine::Wants(const std::string& routing_key) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, hook] : hooks_) {
    for (const auto& b : hook.bindings()) {
      if (TopicMatches(b, routing_key)) return true;
    }
  }
  return false;
}

int WebhookEngine::Route(const v1::BusEvent& event, core::Mutation& m, AfterCommit* after_commit) {
  std::vector<Due> created;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, hook] : hooks_) {
      bool match = false;
      for (const auto& b : hook.bindings()) match = match || TopicMatches(b, event.envelope().event_name());
      if (!match) continue;
      v1::WebhookDelivery d;
      d.set_name(DeliveryName(name, event.sequence()));
      d.set_webhook(name);
      d.set_event_uuid(event.envelope().event_uuid());
      d.set_event_name(event.envelope().event_name());
      d.set_state(v1::DELIVERY_PENDING);
      *d.mutable_next_attempt_time() = event.publish_time();
      *d.mutable_create_time() = event.publish_time();
      v1::NotificationEvent log_event;
      *log_event.mutable_delivery() = d;
      m.writes.push_back({kDeliveryKind, d.name(), d.SerializeAsString(), false});
      m.events.push_back({"notification", kDeliveryKind, d.name(), name, log_event.SerializeAsString()});
      created.push_back({TimeUtil::TimestampToMicroseconds(event.publish_time()), d.name()});
    }
  }
  const int count = static_cast<int>(created.size());
  if (count > 0) {
    after_commit->push_back([this, created = std::move(created)](bool ok) {
      if (!ok) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& d : created) due_.insert(d);
      }
      cv_.notify_all();
    });
  }
  return count;
}

absl::Duration WebhookEngine::Backoff(int attempts) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  absl::Duration d = options_.retry_base;
  for (int i = 1; i < attempts && d < options_.retry_max; ++i) d *= 2;
  d = std::min(d, options_.retry_max);
  // "Equal jitter": half fixed, half random, so retries of many deliveries
  // spread out but never come back at once.
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return d * jitter(rng);
}

void WebhookEngine::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    const int64_t now = NowUs();
    auto pick = due_.end();
    int64_t next_due = now + 1000000;
    // Webhooks at their in-flight cap; once every webhook is, stop looking
    // (thousands of due deliveries of one busy webhook are not rescanned).
    std::set<std::string> full;
    for (auto it = due_.begin(); it != due_.end() && it->due_us <= now && full.size() < hooks_.size();) {
      std::string hook = HookOf(it->delivery);
      if (hooks_.count(hook) == 0) {
        it = due_.erase(it);  // the webhook was deleted
        continue;
      }
      if (full.count(hook) == 0 && in_flight_[hook] < options_.per_webhook_in_flight) {
        pick = it;
        break;
      }
      full.insert(hook);
      ++it;
    }
    if (pick == due_.end()) {
      for (const auto& d : due_) {
        if (d.due_us > now) {
          next_due = std::min(next_due, d.due_us);
          break;
        }
      }
      cv_.wait_for(lock, std::chrono::microseconds(std::max<int64_t>(next_due - now, 1000)));
      continue;
    }
    std::string delivery = pick->delivery;
    due_.erase(pick);
    std::string hook_name = HookOf(delivery);
    v1::WebhookSubscription hook = hooks_[hook_name];
    ++in_flight_[hook_name];
    lock.unlock();
    Attempt(delivery, hook);
    lock.lock();
    --in_flight_[hook_name];
    cv_.notify_all();
  }
}

void WebhookEngine::Attempt(const std::string& delivery_name, const v1::WebhookSubscription& hook) {
  auto d = core::GetParsed<v1::WebhookDelivery>(*store_, kDeliveryKind, delivery_name, "delivery");
  if (!d.ok()) {
    log::Error("webhook delivery unreadable", {{"delivery", delivery_name}, {"error", d.status().ToString()}});
    return;
  }
  if (d->state() != v1::DELIVERY_PENDING && d->state() != v1::DELIVERY_RETRYING) return;
  auto event = core::GetParsed<v1::BusEvent>(*store_, "bus_event", absl::StrCat("busEvents/", d->event_uuid()),
                                             "bus event");
  const int64_t start_us = NowUs();
  v1::DeliveryAttempt* attempt = d->add_attempts();
  *attempt->mutable_time() = TimeUtil::MicrosecondsToTimestamp(start_us);
  PostResult result;
  if (!event.ok()) {
    result.error = absl::StrCat("the bus event is gone: ", event.status().message());
    result.status_code = -1;
  } else {
    const std::string body = wire::GorgEnvelopeToJson(event->envelope());
    const int64_t ts = start_us / 1000000;
    result = HttpPost(hook.url(),
                      {"Content-Type: application/json",
                       absl::StrCat("X-Switchboard-Event: ", d->event_name()),
                       absl::StrCat("X-Switchboard-Event-Id: ", d->event_uuid()),
                       absl::StrCat("X-Switchboard-Delivery: ", d->name()),
                       absl::StrCat(kTimestampHeader, ": ", ts),
                       absl::StrCat(kSignatureHeader, ": ", SignWebhook(hook.secret(), ts, body))},
                      body, absl::Microseconds(TimeUtil::DurationToMicroseconds(hook.attempt_timeout())),
                      options_.ca_file);
  }
  attempt->set_status_code(std::max(result.status_code, 0));
  *attempt->mutable_latency() = TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(result.latency));
  if (!result.error.empty()) attempt->set_error(result.error);

  const int64_t now = NowUs();
  const int64_t deadline =
      TimeUtil::TimestampToMicroseconds(d->create_time()) + TimeUtil::DurationToMicroseconds(hook.time_limit());
  if (result.status_code >= 200 && result.status_code < 300) {
    d->set_state(v1::DELIVERED);
    d->clear_next_attempt_time();
  } else if (Retryable(result.status_code)) {
    absl::Duration wait = result.retry_after_seconds >= 0 ? absl::Seconds(result.retry_after_seconds)
                                                          : Backoff(d->attempts_size());
    const int64_t next = now + absl::ToInt64Microseconds(wait);
    if (next > deadline) {
      d->set_state(v1::DELIVERY_DEAD_LETTERED);
      d->clear_next_attempt_time();
      if (attempt->error().empty()) attempt->set_error("time limit reached; giving up");
    } else {
      d->set_state(v1::DELIVERY_RETRYING);
      *d->mutable_next_attempt_time() = TimeUtil::MicrosecondsToTimestamp(next);
    }
  } else {
    d->set_state(v1::DELIVERY_DEAD_LETTERED);
    d->clear_next_attempt_time();
    if (attempt->error().empty()) {
      attempt->set_error(absl::StrCat("HTTP ", result.status_code, " is permanent; not retried"));
    }
  }
  core::Mutation m;
  v1::NotificationEvent log_event;
  *log_event.mutable_delivery() = *d;
  m.writes.push_back({kDeliveryKind, d->name(), d->SerializeAsString(), false});
  m.events.push_back({"notification", kDeliveryKind, d->name(), d->webhook(), log_event.SerializeAsString()});
  // The worker does not wait for the record to be durable: the next attempt
  // starts while the store group-commits this one. A crash before it is
  // durable repeats the attempt after the restart (at-least-once).
  const bool retry = d->state() == v1::DELIVERY_RETRYING;
  const int64_t next_us = retry ? TimeUtil::TimestampToMicroseconds(d->next_attempt_time()) : 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++records_in_flight_;
  }
  store_->CommitAsync(std::move(m), [this, name = d->name(), retry, next_us, now](auto committed) {
    // Everything under the lock: once records_in_flight_ reaches 0, Close
    // may return and the engine go away.
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_ && (!committed.ok() || retry)) {
      if (!committed.ok()) {
        // Not recorded: try again later rather than lose the delivery.
        log::Error("webhook attempt not recorded", {{"delivery", name}, {"error", committed.status().ToString()}});
      }
      due_.insert({committed.ok() ? next_us : now + absl::ToInt64Microseconds(options_.retry_base), name});
      cv_.notify_all();
    }
    if (--records_in_flight_ == 0) records_done_.notify_all();
  });
}

}  // namespace switchboard::notification
