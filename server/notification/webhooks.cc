#include "server/notification/webhooks.h"

#include <algorithm>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/http/async_client.h"
#include "common/log.h"
#include "common/proto_bytes.h"
#include "common/status.h"
#include "common/uuid.h"
#include "server/core/fingerprint.h"
#include "server/core/list_page.h"
#include "server/core/log_follower.h"
#include "server/notification/topic.h"
#include "server/notification/webhook_migration.h"
#include "wire/gorg_envelope.h"

namespace switchboard::notification {
namespace {

using google::protobuf::util::TimeUtil;

// Every webhook from `list` (the store's or a transaction's, bound to the
// webhook kind), secret included, by name.
template <class ListFn>
absl::StatusOr<std::map<std::string, std::shared_ptr<const v1::WebhookSubscription>>> ReadHooks(ListFn list) {
  std::map<std::string, std::shared_ptr<const v1::WebhookSubscription>> out;
  RETURN_IF_ERROR(core::ForEachResource(list, "", [&out](const std::string& name, const std::string& value) {
    auto hook = std::make_shared<v1::WebhookSubscription>();
    if (!hook->ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
    out[name] = std::move(hook);
    return absl::OkStatus();
  }));
  return out;
}

constexpr char kWebhookKind[] = "webhook";
constexpr char kWebhooksPrefix[] = "webhooks/";

// Every webhook as committed.
absl::StatusOr<std::map<std::string, std::shared_ptr<const v1::WebhookSubscription>>> ReadStoredHooks(
    core::Store& store) {
  return ReadHooks([&store](const std::string& after) { return store.ListResources(kWebhookKind, after, 1000); });
}
// Bodies up to this size ride in their delivery jobs; a larger one is read
// from its bus event at each attempt instead of being copied per webhook.
constexpr size_t kMaxKeptBody = 64 << 10;

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

std::string DeliveryName(absl::string_view hook, int64_t seq) {
  return absl::StrFormat("%s/deliveries/%020d", hook, seq);
}

std::string HookOf(absl::string_view delivery) { return std::string(delivery.substr(0, delivery.find("/deliveries/"))); }

// The log event of a delivery record: a NotificationEvent whose `delivery`
// holds the record's bytes (serialized once for both).
std::string DeliveryEvent(const std::string& record) {
  std::string out;
  out.reserve(record.size() + 10);  // the field's tag and length: two varints of at most 5 bytes
  AppendBytesField(out, v1::NotificationEvent::kDeliveryFieldNumber, record);
  return out;
}

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

}  // namespace

std::string DeliveryJobKind(absl::string_view webhook) { return absl::StrCat(kDeliveryJobKindPrefix, webhook); }

// Wakes the engine's log follower; detached at Close (the hub outlives the
// engine).
WebhookEngine::WebhookEngine(core::Store* store, WebhookOptions options, core::Pool* pool, core::EventHub* hub)
    : store_(store),
      options_(std::move(options)),
      policy_{options_.retry_base, options_.retry_max},
      pool_(pool),
      share_(std::max(1, options_.claim_window)),
      max_held_(8 * std::max(1, options_.claim_window)),
      owner_(options_.replica_id.empty() ? core::NewReplicaId() : options_.replica_id),
      hub_(hub) {
  if (pool_ == nullptr) {
    own_pool_ = std::make_unique<core::Pool>(core::PoolOptions{"webhooks", 4, 1024});
    pool_ = own_pool_.get();
  }
}

WebhookEngine::~WebhookEngine() { Close(); }

absl::Status WebhookEngine::Load() {
  std::set<std::string> names;
  {
    ASSIGN_OR_RETURN(auto loaded, ReadStoredHooks(*store_));
    for (const auto& [name, hook] : loaded) names.insert(name);
    std::lock_guard<std::mutex> lock(mu_);
    hooks_ = std::move(loaded);
  }
  RETURN_IF_ERROR(MigrateDeliveries(store_, names));
  RETURN_IF_ERROR(MigrateDeliveryJobKinds(store_, names));
  RETURN_IF_ERROR(EnsureOwnerJobs(store_, names));
  ASSIGN_OR_RETURN(auto unfinished, store_->jobs().CountByState(kDeliveryJobKindPrefix, /*prefix=*/true));
  pending_.store(unfinished.ready + unfinished.running);

  outcomes_ = std::make_unique<OutcomeWriter>(
      store_, [this](const Outcome& o, const absl::Status& s) { OnRecorded(o, s); });
  OwnerLeases::Options oo;
  oo.owner = owner_;
  oo.lease = options_.owner_lease;
  oo.renew_below = options_.owner_renew_below;
  oo.grace = 2 * options_.owner_lease;
  owners_ = std::make_unique<OwnerLeases>(&store_->jobs(), oo, [this](const std::string& name) -> absl::StatusOr<bool> {
    ASSIGN_OR_RETURN(auto value, store_->GetResource(kWebhookKind, name));
    return value.has_value();
  });
  client_ = std::make_unique<httpclient::AsyncClient>();
  waker_ = std::make_unique<core::Ticker>(pool_, options_.tick, [this] { WakeTick(); });
  waker_->Start(options_.tick);
  keeper_ = std::make_unique<core::Ticker>(pool_, options_.tick, [this] { KeeperTick(); });
  keeper_->Start();
  if (hub_ != nullptr) {
    static const core::WatchFilter kDeliveries{"notification", {kDeliveryKind}, "", ""};
    follower_ = std::make_unique<core::LogFollower>(
        hub_, kDeliveries, [this](const auto& events, bool behind) { OnLogPass(events, behind); });
    follower_->Start();
  }
  return absl::OkStatus();
}

void WebhookEngine::OnLogPass(const std::vector<std::shared_ptr<const core::EventRecord>>& events, bool behind) {
  std::set<std::string> due;
  for (const auto& event : events) {
    const std::string& webhook = event->related;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto own = owned_.find(webhook);
      if (closed_ || own == owned_.end() || !own->second.active) continue;
    }
    // A new delivery (not an attempt's outcome) of a webhook owned here.
    v1::NotificationEvent e;
    if (e.ParseFromString(event->data) && e.delivery().state() == v1::DELIVERY_PENDING &&
        e.delivery().attempts_size() == 0) {
      due.insert(webhook);
    }
  }
  std::vector<std::shared_ptr<core::JobWorker>> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, o] : owned_) {
      if (behind || due.count(name) > 0) workers.push_back(o.worker);
    }
  }
  for (auto& w : workers) w->Poke();
}

void WebhookEngine::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  if (follower_) follower_->Stop();
  if (keeper_) keeper_->Stop();
  if (waker_) waker_->Stop();
  {
    // Attempts under way finish (their answers come, or their timeouts),
    // and what they posted to the pool returns.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return attempting_ == 0 && tasks_ == 0; });
  }
  if (client_) client_->Stop();  // nothing under way: no call fails
  // Outcomes still committing call back into this engine.
  if (outcomes_) outcomes_->Drain();
  if (!owners_) return;
  // What was claimed and not attempted goes back now, then the leases.
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, o] : owned_) names.push_back(name);
  }
  for (const std::string& name : names) Disown(name, /*shed=*/false);
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] {
      for (const auto& [name, o] : owned_) {
        if (o.releasing > 0) return false;
      }
      return true;
    });
  }
  for (const std::string& name : names) {
    if (auto w = WorkerOf(name)) w->Stop();
  }
  owners_->Stop();
  if (own_pool_) own_pool_->Stop();
}

void WebhookEngine::PokeKeeper() {
  // (Before Load or after Close: nothing.)
  if (keeper_) keeper_->RunBy(absl::ZeroDuration());
}

void WebhookEngine::KeeperTick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
  }
  KeeperRound();
  if (++keeper_rounds_ % 10 == 0) {
    // Publishes and outcomes on other replicas move it too.
    auto n = store_->jobs().CountByState(kDeliveryJobKindPrefix, /*prefix=*/true);
    if (n.ok()) pending_.store(n->ready + n->running);
  }
}

void WebhookEngine::WakeTick() {
  std::set<std::string> due;
  int64_t next = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    const int64_t now = NowUs();
    while (!wakes_.empty() && wakes_.begin()->first <= now) {
      due.insert(wakes_.begin()->second);
      wakes_.erase(wakes_.begin());
    }
    if (!wakes_.empty()) next = wakes_.begin()->first - now;
  }
  // Retries came due: their webhooks claim them.
  for (const std::string& name : due) {
    if (auto w = WorkerOf(name)) w->Poke();
  }
  if (next >= 0) waker_->RunBy(absl::Microseconds(next));
}

void WebhookEngine::KeeperRound() {
  if (hub_ != nullptr) RefreshWants();
  // Webhooks deleted here: their leases were woken by the delete, so a
  // heartbeat now finds them lost at once.
  std::set<std::string> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, o] : owned_) {
      if (o.active && hooks_.count(name) == 0) gone.insert(name);
    }
  }
  OwnerLeases::Changes changes = owners_->Tick(gone);
  for (const std::string& name : changes.lost) Disown(name, /*shed=*/false);
  for (const std::string& name : changes.gained) Own(name);
  if (int excess = owners_->Excess(); excess > 0) {
    // Hand back the webhooks with the least work here.
    std::vector<std::pair<size_t, std::string>> candidates;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [name, o] : owned_) {
        if (!o.active) {
          --excess;  // already on its way out
          continue;
        }
        auto q = queues_.find(name);
        candidates.emplace_back(q == queues_.end() ? 0 : q->second.waiting.size() + q->second.in_flight, name);
      }
    }
    std::sort(candidates.begin(), candidates.end());
    for (int i = 0; i < excess && i < static_cast<int>(candidates.size()); ++i) {
      log::Info("webhook owner lease to be handed back (more than this replica's share)",
                {{"webhook", candidates[i].second}, {"share", owners_->share()}});
      Disown(candidates[i].second, /*shed=*/true);
    }
  }
  Sweep();
  std::vector<std::shared_ptr<core::JobWorker>> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, o] : owned_) workers.push_back(o.worker);
  }
  // Renews the deliveries' leases (of disowned webhooks too, while their
  // attempts finish) and claims what came due.
  for (auto& w : workers) w->Tick();
  // An attempt waits for a lease with time to spare: look again.
  Dispatch();
}

void WebhookEngine::Own(const std::string& name) {
  std::shared_ptr<core::JobWorker> worker;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    auto it = owned_.find(name);
    if (it != owned_.end()) {
      // Lost or shed a moment ago and not drained yet: its worker goes on.
      it->second.active = true;
      it->second.shedding = false;
      worker = it->second.worker;
    } else {
      core::JobWorker::Options jo;
      jo.kind = DeliveryJobKind(name);
      jo.owner = owner_;
      jo.lease = options_.job_lease;
      jo.tick = options_.tick;
      jo.claim_batch = options_.claim_batch;
      // No ticker_pool: the keeper ticks every webhook's worker.
      worker = std::make_shared<core::JobWorker>(
          &store_->jobs(), jo, [this](core::Job job) { OnClaimed(std::move(job)); },
          [this, name] { return RoomFor(name); });
      owned_[name].worker = worker;
    }
  }
  worker->Start();
  worker->Poke();
}

void WebhookEngine::Disown(const std::string& name, bool shed) {
  std::vector<core::Job> back;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = owned_.find(name);
    if (it == owned_.end()) return;
    it->second.active = false;
    it->second.shedding = shed;
    auto q = queues_.find(name);
    if (q != queues_.end()) {
      waiting_ -= static_cast<int>(q->second.waiting.size());
      back.assign(std::make_move_iterator(q->second.waiting.begin()),
                  std::make_move_iterator(q->second.waiting.end()));
      q->second.waiting.clear();
      if (q->second.in_flight == 0) queues_.erase(q);
    }
  }
  GiveBack(name, std::move(back));
}

void WebhookEngine::GiveBack(const std::string& name, std::vector<core::Job> jobs) {
  if (jobs.empty()) return;
  std::shared_ptr<core::JobWorker> worker;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = owned_.find(name);
    if (it == owned_.end()) return;  // cannot happen: jobs come from its worker
    it->second.releasing += static_cast<int>(jobs.size());
    worker = it->second.worker;
  }
  for (core::Job& job : jobs) {
    // READY again at its own run_at (a retry keeps its schedule); refused
    // when the webhook was deleted (its jobs were cancelled) or the lease
    // taken over: nothing to give back then.
    store_->jobs().Write(core::JobWrite::RetryAt(job.lease, absl::FromUnixMicros(job.run_at_us),
                                                 "given back with the webhook's owner lease"),
                         [this, name, worker, key = job.key, token = job.lease.token](absl::StatusOr<core::JobLease>) {
                           worker->Drop(key, token);
                           std::lock_guard<std::mutex> lock(mu_);
                           auto it = owned_.find(name);
                           if (it != owned_.end()) --it->second.releasing;
                           cv_.notify_all();
                         });
  }
}

void WebhookEngine::Sweep() {
  std::vector<std::pair<std::string, bool>> done;  // name, shed
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, o] : owned_) {
      if (o.active || o.releasing > 0 || recording_.count(name) > 0) continue;
      auto q = queues_.find(name);
      if (q != queues_.end() && (q->second.in_flight > 0 || !q->second.waiting.empty())) continue;
      done.emplace_back(name, o.shedding);
    }
  }
  for (const auto& [name, shed] : done) {
    if (shed) owners_->HandBack(name, "handed back: more than this replica's share");
    std::shared_ptr<core::JobWorker> worker = WorkerOf(name);
    worker->Stop();
    std::lock_guard<std::mutex> lock(mu_);
    owned_.erase(name);
  }
}

std::shared_ptr<core::JobWorker> WebhookEngine::WorkerOf(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = owned_.find(name);
  return it == owned_.end() ? nullptr : it->second.worker;
}

std::vector<std::string> WebhookEngine::owned() const { return owners_ ? owners_->held() : std::vector<std::string>(); }

int64_t WebhookEngine::pending() const { return pending_.load(); }

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
  m.changes_routes = true;
  m.prepare = [hook](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    ASSIGN_OR_RETURN(auto existing, txn.Get(kWebhookKind, hook.name()));
    if (existing.has_value()) return absl::AlreadyExistsError(absl::StrCat(hook.name(), " already exists"));
    self.writes.push_back({kWebhookKind, hook.name(), hook.SerializeAsString(), false});
    // Its owner lease (webhook_owners.h): a replica's keeper claims it.
    self.jobs.push_back(core::JobWrite::Enqueue(kOwnerJobKind, hook.name(), ""));
    return absl::OkStatus();
  };
  m.make_response = [hook](int64_t) { return hook.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    v1::WebhookSubscription stored;
    stored.ParseFromString(r->response);
    if (!r->replayed) {
      // A repeat must not bring back a webhook deleted since.
      {
        std::lock_guard<std::mutex> lock(mu_);
        hooks_[stored.name()] = std::make_shared<const v1::WebhookSubscription>(stored);
      }
      PokeKeeper();  // its owner lease is free: claim it now if this replica has room
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
  m.changes_routes = true;
  m.writes.push_back({kWebhookKind, hook->name(), "", true});
  // Its deliveries stop wherever they are held, and its owner lease ends:
  // the holder's next heartbeat is refused, and the next claim, finding
  // the webhook gone, finishes the lease's job.
  m.jobs.push_back(core::JobWrite::CancelAll(DeliveryJobKind(hook->name()), "the webhook was deleted"));
  m.jobs.push_back(core::JobWrite::Wake(kOwnerJobKind, hook->name()));
  m.make_response = [h = *hook](int64_t) { return h.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, name = hook->name(), done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    {
      std::lock_guard<std::mutex> lock(mu_);
      hooks_.erase(name);
    }
    PokeKeeper();
    v1::WebhookSubscription out;
    out.ParseFromString(r->response);
    done(core::MaybeReplayed<v1::WebhookSubscription>(std::move(out), r->replayed));
  });
}

absl::StatusOr<v1::WebhookSubscription> WebhookEngine::Get(absl::string_view name) const {
  if (!absl::StartsWith(name, kWebhooksPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("name '", Echo(name), "' must be webhooks/{id}"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = hooks_.find(std::string(name));
    if (it != hooks_.end()) return Public(*it->second);
  }
  // Perhaps made on another replica since this one last loaded.
  ASSIGN_OR_RETURN(v1::WebhookSubscription stored,
                   core::GetParsed<v1::WebhookSubscription>(*store_, kWebhookKind, name, "webhook"));
  return Public(std::move(stored));
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, hook] : hooks_) {
      for (const auto& b : hook->bindings()) {
        if (TopicMatches(b, routing_key)) return true;
      }
    }
  }
  std::lock_guard<std::mutex> lock(wants_mu_);
  return std::any_of(wants_.begin(), wants_.end(),
                     [&routing_key](const std::string& b) { return TopicMatches(b, routing_key); });
}

void WebhookEngine::RefreshWants() {
  auto hooks = ReadStoredHooks(*store_);
  if (!hooks.ok()) {
    log::Warn("webhooks could not be read", {{"error", hooks.status().ToString()}});
    return;
  }
  std::vector<std::string> bindings;
  for (const auto& [name, hook] : *hooks) bindings.insert(bindings.end(), hook->bindings().begin(), hook->bindings().end());
  std::lock_guard<std::mutex> lock(wants_mu_);
  wants_ = std::move(bindings);
}

absl::StatusOr<int> WebhookEngine::Route(const v1::BusEvent& event, core::TxnReader& txn, core::Mutation& m,
                                         AfterCommit* after_commit) {
  const uint64_t version = txn.RoutesVersion();
  if (!routes_version_.has_value() || *routes_version_ != version) {
    // Created or deleted since (here or on another replica): reload.
    ASSIGN_OR_RETURN(auto loaded,
                     ReadHooks([&txn](const std::string& after) { return txn.List(kWebhookKind, after, 1000); }));
    std::lock_guard<std::mutex> lock(mu_);
    hooks_ = std::move(loaded);
    routes_version_ = version;
  }
  int count = 0;
  std::vector<std::string> matched;
  // (delivery, record) as written, kept once committed.
  std::vector<std::pair<std::string, std::string>> routed;
  // The body every matching webhook gets, rendered once.
  std::string body;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, hook] : hooks_) {
      bool match = false;
      for (const auto& b : hook->bindings()) match = match || TopicMatches(b, event.envelope().event_name());
      if (!match) continue;
      if (body.empty()) body = wire::GorgEnvelopeToJson(event.envelope());
      v1::WebhookDelivery d;
      d.set_name(DeliveryName(name, event.sequence()));
      d.set_webhook(name);
      d.set_event_uuid(event.envelope().event_uuid());
      d.set_event_name(event.envelope().event_name());
      d.set_state(v1::DELIVERY_PENDING);
      *d.mutable_next_attempt_time() = event.publish_time();
      *d.mutable_create_time() = event.publish_time();
      std::string record = d.SerializeAsString();
      std::string log_event = DeliveryEvent(record);
      routed.emplace_back(d.name(), record);
      m.writes.push_back({kDeliveryKind, d.name(), std::move(record), false});
      m.events.push_back({"notification", kDeliveryKind, d.name(), name, std::move(log_event)});
      m.jobs.push_back(core::JobWrite::Enqueue(
          DeliveryJobKind(name), d.name(), body.size() <= kMaxKeptBody ? body : std::string(),
          absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(event.publish_time()))));
      // The delivery's name holds this event's log sequence, given in this
      // transaction: no other job has its key, so the key goes unindexed.
      m.jobs.back().deduplicate = false;
      matched.push_back(name);
      ++count;
    }
  }
  if (count > 0) {
    after_commit->push_back([this, count, matched = std::move(matched),
                             routed = std::move(routed)](const core::CommitResult* committed) mutable {
      if (committed == nullptr) return;
      pending_.fetch_add(count);
      for (auto& [delivery, record] : routed) records_.Put(delivery, std::move(record), /*token=*/0);
      // The owner claims at once when it is this replica (others poll).
      for (const std::string& name : matched) {
        if (auto w = WorkerOf(name)) w->Poke();
      }
    });
  }
  return count;
}

int WebhookEngine::RoomFor(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return 0;
  auto own = owned_.find(name);
  if (own == owned_.end() || !own->second.active) return 0;
  auto q = queues_.find(name);
  const int waiting = q == queues_.end() ? 0 : static_cast<int>(q->second.waiting.size());
  return std::max(0, std::min(share_ - waiting, max_held_ - waiting_ - attempting_));
}

void WebhookEngine::OnClaimed(core::Job job) {
  const std::string name = HookOf(job.key);
  bool active = false;
  bool hooks_known = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto own = owned_.find(name);
    active = !closed_ && own != owned_.end() && own->second.active;
    hooks_known = hooks_.count(name) > 0;
    if (active && hooks_known) {
      HookQueue& q = queues_[name];
      if (q.waiting.empty()) turns_.push_back(name);
      q.waiting.push_back(std::move(job));
      ++waiting_;
    }
  }
  if (active && hooks_known) return Dispatch();
  if (!active) {
    // Its owner lease went meanwhile: not attempted, given back.
    std::vector<core::Job> back;
    back.push_back(std::move(job));
    return GiveBack(name, std::move(back));
  }
  // Unknown here: a task reads the store (this is the store's thread).
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = unknown_.empty();
    unknown_.push_back(std::move(job));
  }
  if (!first) return;  // the task posted for the first takes it too
  Run([this] {
    std::vector<core::Job> jobs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs.swap(unknown_);
    }
    LookUp(std::move(jobs));
  });
}

void WebhookEngine::LookUp(std::vector<core::Job> jobs) {
  // Each webhook read once per batch: as stored, or null when it is gone.
  std::map<std::string, Hook> read;
  for (core::Job& job : jobs) {
    const std::string name = HookOf(job.key);
    auto it = read.find(name);
    if (it == read.end()) {
      auto value = store_->GetResource(kWebhookKind, name);
      if (!value.ok()) {
        // The store is unreachable: leave the job to its lease.
        log::Warn("webhook lookup failed", {{"webhook", name}, {"error", value.status().ToString()}});
        std::vector<core::Job> back;
        back.push_back(std::move(job));
        GiveBack(name, std::move(back));
        continue;
      }
      auto hook = std::make_shared<v1::WebhookSubscription>();
      if (!value->has_value() || !hook->ParseFromString(**value)) hook = nullptr;
      it = read.emplace(name, hook).first;
      if (hook != nullptr) {
        std::lock_guard<std::mutex> lock(mu_);
        hooks_.emplace(name, std::move(hook));
      }
    }
    if (it->second != nullptr) {
      OnClaimed(std::move(job));
    } else {
      Record(Finish(job, /*failed=*/true, absl::StrCat(name, " was deleted; its deliveries stop")));
    }
  }
}

bool WebhookEngine::PickLocked(Picked* out, std::vector<core::Job>* orphans) {
  for (size_t n = turns_.size(); n > 0; --n) {
    std::string name = std::move(turns_.front());
    turns_.pop_front();
    auto qit = queues_.find(name);
    if (qit == queues_.end() || qit->second.waiting.empty()) continue;
    HookQueue& q = qit->second;
    auto hook = hooks_.find(name);
    if (hook == hooks_.end()) {
      // Deleted since: its deliveries stop.
      waiting_ -= static_cast<int>(q.waiting.size());
      for (core::Job& j : q.waiting) orphans->push_back(std::move(j));
      q.waiting.clear();
      if (q.in_flight == 0) queues_.erase(qit);
      continue;
    }
    // The cap holds across replicas only while this replica holds the
    // webhook's lease, with time to spare for the attempt to start.
    if (q.in_flight >= options_.per_webhook_in_flight || !owners_->Holds(name, options_.owner_lease / 5)) {
      turns_.push_back(std::move(name));
      continue;
    }
    out->job = std::move(q.waiting.front());
    out->hook = hook->second;
    q.waiting.pop_front();
    ++q.in_flight;
    --waiting_;
    ++attempting_;
    if (!q.waiting.empty()) turns_.push_back(std::move(name));
    return true;
  }
  return false;
}

void WebhookEngine::Dispatch(bool here) {
  std::vector<Picked> picked;
  std::vector<core::Job> orphans;
  std::vector<std::shared_ptr<core::JobWorker>> refills;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    Picked p;
    while (attempting_ < options_.workers && PickLocked(&p, &orphans)) {
      // Room for a full claim for the webhook again: claim more (once per
      // crossing; a claim that comes back full claims again by itself).
      auto q = queues_.find(p.hook->name());
      if (q != queues_.end() &&
          static_cast<int>(q->second.waiting.size()) == std::max(0, share_ - options_.claim_batch)) {
        auto own = owned_.find(p.hook->name());
        if (own != owned_.end()) refills.push_back(own->second.worker);
      }
      picked.push_back(std::move(p));
    }
  }
  for (const core::Job& j : orphans) {
    Record(Finish(j, /*failed=*/true, absl::StrCat(HookOf(j.key), " was deleted; its deliveries stop")));
  }
  for (auto& w : refills) w->Poke();
  const bool inline_reads = here && hub_ == nullptr;
  for (Picked& p : picked) {
    if (inline_reads) {
      RunHere([&] { Attempt(std::move(p)); });
    } else {
      Run([this, p = std::move(p)]() mutable { Attempt(std::move(p)); });
    }
  }
}

void WebhookEngine::RunHere(const std::function<void()>& task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++tasks_;
  }
  task();
  std::lock_guard<std::mutex> lock(mu_);
  if (--tasks_ == 0) cv_.notify_all();
}

void WebhookEngine::Run(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++tasks_;
  }
  auto done = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    if (--tasks_ == 0) cv_.notify_all();
  };
  auto shared = std::make_shared<std::function<void()>>(std::move(task));
  if (!pool_->Post([shared, done] {
        (*shared)();
        done();
      })) {
    // The pool's queue is full (or it stops): run it here rather than lose
    // an attempt or its record.
    (*shared)();
    done();
  }
}

void WebhookEngine::ReleaseSlot(const std::string& webhook, bool here) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --attempting_;
    ++recording_[webhook];
    auto it = queues_.find(webhook);
    if (it != queues_.end()) {
      HookQueue& q = it->second;
      --q.in_flight;
      if (q.in_flight == 0 && q.waiting.empty()) queues_.erase(it);
    }
    if (attempting_ == 0) cv_.notify_all();
  }
  Dispatch(here);
}

Outcome WebhookEngine::Finish(const core::Job& job, bool failed, std::string why) {
  if (failed) log::Warn("webhook delivery given up", {{"delivery", job.key}, {"error", why}});
  return Outcome{job.key, HookOf(job.key),
                 failed ? core::JobWrite::Fail(job.lease, std::move(why)) : core::JobWrite::Complete(job.lease), "",
                 ""};
}

void WebhookEngine::Attempt(Picked picked) {
  const core::Job& job = picked.job;
  const v1::WebhookSubscription& hook = *picked.hook;
  auto given_up = [&](bool failed, std::string why) {
    ReleaseSlot(hook.name());
    outcomes_->Add(Finish(job, failed, std::move(why)));
  };
  auto d = ReadDelivery(job);
  if (!d.ok()) return given_up(true, absl::StrCat("the delivery record is unreadable: ", d.status().ToString()));
  // A guard: a record and its job's end commit together.
  if (d->state() != v1::DELIVERY_PENDING && d->state() != v1::DELIVERY_RETRYING) return given_up(false, "");

  const int64_t start_us = NowUs();
  std::string body = job.payload;
  if (body.empty()) {
    // A large body, or a job from before bodies were kept in it
    // (webhook_migration.h).
    auto event = core::GetParsed<v1::BusEvent>(*store_, "bus_event", absl::StrCat("busEvents/", d->event_uuid()),
                                               "bus event");
    if (!event.ok()) {
      PostResult result;
      result.error = absl::StrCat("the bus event is gone: ", event.status().message());
      result.status_code = -1;
      return Answered(picked, std::move(*d), start_us, result);
    }
    body = wire::GorgEnvelopeToJson(event->envelope());
  }
  auto record = std::make_shared<v1::WebhookDelivery>(std::move(*d));
  auto hook_ptr = picked.hook;
  PostDelivery(*client_, *hook_ptr, *record, std::move(body), start_us, options_.ca_file,
               [this, picked = std::move(picked), record, start_us](PostResult result) mutable {
                 // On the client's loop thread, at once: recording the
                 // answer and picking the next attempts never block (the
                 // outcome is committed asynchronously, and the next
                 // attempts' store reads go to the pool), and a hop to the
                 // pool here would add a thread wake-up to every attempt.
                 // Counted as a task before this attempt stops counting.
                 RunHere([&] { Answered(picked, std::move(*record), start_us, result); });
               });
}

void WebhookEngine::Answered(const Picked& picked, v1::WebhookDelivery d, int64_t start_us, const PostResult& result) {
  const core::Job& job = picked.job;
  const v1::WebhookSubscription& hook = *picked.hook;
  ReleaseSlot(hook.name(), /*here=*/true);
  ApplyAttempt(&d, hook, start_us, result, policy_, NowUs());
  Outcome o;
  o.delivery = job.key;
  o.webhook = hook.name();
  o.record = d.SerializeAsString();
  o.event = DeliveryEvent(o.record);
  const v1::DeliveryAttempt& last = d.attempts(d.attempts_size() - 1);
  switch (d.state()) {
    case v1::DELIVERED: o.job = core::JobWrite::Complete(job.lease); break;
    case v1::DELIVERY_RETRYING:
      o.job = core::JobWrite::RetryAt(job.lease,
                                      absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(d.next_attempt_time())),
                                      last.error().empty() ? absl::StrCat("HTTP ", last.status_code()) : last.error());
      break;
    default: o.job = core::JobWrite::Fail(job.lease, last.error()); break;
  }
  outcomes_->Add(std::move(o));
}

void WebhookEngine::Record(Outcome o) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++recording_[o.webhook];
  }
  outcomes_->Add(std::move(o));
}

absl::StatusOr<v1::WebhookDelivery> WebhookEngine::ReadDelivery(const core::Job& job) const {
  if (std::optional<std::string> kept = records_.Get(job.key, job.lease.token)) {
    v1::WebhookDelivery d;
    if (d.ParseFromString(*kept)) return d;
  }
  return core::GetParsed<v1::WebhookDelivery>(*store_, kDeliveryKind, job.key, "delivery");
}

void WebhookEngine::OnRecorded(const Outcome& o, const absl::Status& status) {
  // The next claim of a retried delivery reads its record from here; a
  // finished one, or one whose write is refused or unknown, is forgotten.
  if (status.ok() && o.job.op == core::JobWrite::Op::kRetry && !o.record.empty()) {
    records_.Put(o.delivery, o.record, o.job.lease.token);
  } else {
    records_.Erase(o.delivery);
  }
  std::shared_ptr<core::JobWorker> worker;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto own = owned_.find(o.webhook);
    if (own != owned_.end()) worker = own->second.worker;
    auto r = recording_.find(o.webhook);
    if (r != recording_.end() && --r->second <= 0) recording_.erase(r);
  }
  if (worker) worker->Drop(o.delivery, o.job.lease.token);
  if (!status.ok()) {
    // A lost lease: the job's new holder attempts it. Anything else: the
    // job stays ours until its lease runs out, then it is claimed again.
    if (absl::IsFailedPrecondition(status)) {
      log::Info("webhook attempt not recorded: its delivery was taken over", {{"delivery", o.delivery}});
    } else {
      log::Error("webhook attempt not recorded", {{"delivery", o.delivery}, {"error", status.ToString()}});
    }
    return;
  }
  if (o.job.op == core::JobWrite::Op::kRetry) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      wakes_.emplace(o.job.run_at_us, o.webhook);
    }
    // The waker claims it when it comes due (nothing once it stopped).
    waker_->RunBy(absl::Microseconds(std::max<int64_t>(0, o.job.run_at_us - NowUs())));
  } else {
    pending_.fetch_sub(1);
  }
}

}  // namespace switchboard::notification
