// The queue engine's subscriptions, routing and dead letters (the stored
// side); queue_deliveries.cc holds the streams, claims and answers.
#include "server/notification/queues.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status.h"
#include "server/core/fingerprint.h"
#include "server/core/job_queue.h"
#include "server/core/list_page.h"
#include "server/notification/queue_names.h"
#include "server/notification/topic.h"

namespace switchboard::notification {

using google::protobuf::util::TimeUtil;
using namespace queue_names;  // NOLINT: this engine's own names

namespace {

absl::Status CheckDuration(absl::string_view field, const google::protobuf::Duration& d, absl::Duration min,
                           absl::Duration max) {
  absl::Duration v = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  if (v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", absl::FormatDuration(v), "; give between ",
                                                   absl::FormatDuration(min), " and ", absl::FormatDuration(max)));
  }
  return absl::OkStatus();
}

bool Binds(const v1::Subscription& sub, const std::string& key) {
  for (const auto& b : sub.bindings()) {
    if (TopicMatches(b, key)) return true;
  }
  return false;
}

// Every subscription from `list` (a store's or a transaction's, bound to
// the subscription kind).
template <class ListFn>
absl::StatusOr<std::vector<v1::Subscription>> ReadAll(ListFn list) {
  std::vector<v1::Subscription> out;
  RETURN_IF_ERROR(core::ForEachResource(list, "", [&out](const std::string& name, const std::string& value) {
    if (!out.emplace_back().ParseFromString(value)) {
      return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace

absl::Status QueueEngine::Load() {
  RETURN_IF_ERROR(MoveLegacyMessages());
  RefreshWants();
  Start();
  return absl::OkStatus();
}

absl::Status QueueEngine::MoveLegacyMessages() {
  int64_t moved = 0, orphans = 0;
  std::map<std::string, bool> exists;  // by queue, read once
  for (;;) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kLegacyMessageKind, "", 500));
    if (page.items.empty()) break;
    core::Mutation m;
    for (auto& [name, value] : page.items) {
      m.writes.push_back({kLegacyMessageKind, name, "", true});
      const std::string queue = name.substr(0, name.rfind('/'));
      auto known = exists.find(queue);
      if (known == exists.end()) {
        ASSIGN_OR_RETURN(auto sub, store_->GetResource(kSubscriptionKind, absl::StrCat(kSubscriptionsPrefix, queue)));
        known = exists.emplace(queue, sub.has_value()).first;
      }
      v1::QueuedMessage msg;
      if (!known->second || !msg.ParseFromString(value)) {
        ++orphans;
        continue;
      }
      ++moved;
      m.jobs.push_back(core::JobWrite::Enqueue(JobKind(queue), JobKey(msg.sequence()), msg.SerializeAsString(),
                                               absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(
                                                   msg.visible_time()))));
    }
    RETURN_IF_ERROR(store_->Commit(std::move(m)).status());
  }
  if (moved + orphans > 0) {
    log::Info("bus messages of an older data dir moved into jobs", {{"moved", moved}, {"orphans_dropped", orphans}});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::Subscription>> QueueEngine::ReadSubscription(const std::string& queue) const {
  ASSIGN_OR_RETURN(auto value, store_->GetResource(kSubscriptionKind, absl::StrCat(kSubscriptionsPrefix, queue)));
  if (!value.has_value()) return std::optional<v1::Subscription>();
  v1::Subscription sub;
  if (!sub.ParseFromString(*value)) return absl::DataLossError(absl::StrCat("stored subscription ", queue, " is corrupt"));
  return std::optional<v1::Subscription>(std::move(sub));
}

absl::StatusOr<v1::Subscription> QueueEngine::Snapshot(v1::Subscription sub) const {
  ASSIGN_OR_RETURN(core::JobQueue::Counts counts, store_->jobs().CountByState(JobKind(sub.queue())));
  sub.set_ready_count(counts.ready);
  sub.set_in_flight_count(counts.running);
  int64_t dead = 0;
  RETURN_IF_ERROR(core::ForEachResource(
      [this](const std::string& after) { return store_->ListResources(kDeadLetterKind, after, 1000); },
      DeadLetterPrefix(sub.queue()), [&dead](const std::string&, const std::string&) {
        ++dead;
        return absl::OkStatus();
      }));
  sub.set_dead_letter_count(dead);
  return sub;
}

void QueueEngine::RefreshWants() {
  auto subs = ReadAll([this](const std::string& after) { return store_->ListResources(kSubscriptionKind, after, 1000); });
  if (!subs.ok()) {
    log::Warn("bus subscriptions could not be read", {{"error", subs.status().ToString()}});
    return;
  }
  std::lock_guard<std::mutex> lock(wants_mu_);
  wants_ = std::move(*subs);
}

void QueueEngine::CreateSubscription(const v1::CreateSubscriptionRequest& request, SubscriptionDone done) {
  v1::Subscription sub = request.subscription();
  if (absl::Status s = ValidateQueueName("subscription.queue", sub.queue()); !s.ok()) return done(s);
  if (!sub.name().empty() && sub.name() != absl::StrCat(kSubscriptionsPrefix, sub.queue())) {
    return done(absl::InvalidArgumentError(absl::StrCat("subscription.name '", sub.name(), "' must be empty or ",
                                                        kSubscriptionsPrefix, sub.queue())));
  }
  if (sub.bindings().empty()) {
    return done(absl::InvalidArgumentError(
        "subscription.bindings is empty; give at least one topic pattern such as request.gapps.# "));
  }
  for (int i = 0; i < sub.bindings_size(); ++i) {
    if (absl::Status s = ValidateBinding(absl::StrCat("subscription.bindings[", i, "]"), sub.bindings(i)); !s.ok()) {
      return done(s);
    }
  }
  if (sub.app_id().empty()) {
    absl::string_view app = sub.queue();
    absl::ConsumeSuffix(&app, "_job_q");
    sub.set_app_id(std::string(app));
  }
  if (!sub.has_visibility_timeout()) *sub.mutable_visibility_timeout() = ToProto(defaults_.visibility_timeout);
  if (!sub.has_retry_delay()) *sub.mutable_retry_delay() = ToProto(defaults_.retry_delay);
  if (sub.max_attempts() == 0) sub.set_max_attempts(defaults_.max_attempts);
  for (absl::Status s : {CheckDuration("subscription.visibility_timeout", sub.visibility_timeout(),
                                       absl::Milliseconds(100), absl::Hours(12)),
                         CheckDuration("subscription.retry_delay", sub.retry_delay(), absl::ZeroDuration(),
                                       absl::Hours(24 * 7))}) {
    if (!s.ok()) return done(s);
  }
  if (sub.max_attempts() < 1 || sub.max_attempts() > 10000) {
    return done(absl::InvalidArgumentError("subscription.max_attempts must be between 1 and 10000"));
  }
  sub.set_name(absl::StrCat(kSubscriptionsPrefix, sub.queue()));
  sub.clear_ready_count();
  sub.clear_in_flight_count();
  sub.clear_dead_letter_count();
  *sub.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(NowUs());

  core::Mutation m;
  m.scope = "notification.CreateSubscription";
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request);
  m.changes_routes = true;
  m.prepare = [sub](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    ASSIGN_OR_RETURN(auto existing, txn.Get(kSubscriptionKind, sub.name()));
    if (existing.has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(sub.name(), " already exists; delete it first to change it"));
    }
    self.writes.push_back({kSubscriptionKind, sub.name(), sub.SerializeAsString(), false});
    return absl::OkStatus();
  };
  m.make_response = [sub](int64_t) { return sub.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    v1::Subscription out;
    out.ParseFromString(r->response);
    if (r->replayed) {
      // Counts as of now; the subscription itself as first created.
      if (auto snap = Snapshot(out); snap.ok()) out = std::move(*snap);
    } else {
      std::lock_guard<std::mutex> lock(wants_mu_);
      wants_.push_back(out);
    }
    done(core::MaybeReplayed<v1::Subscription>(std::move(out), r->replayed));
  });
}

void QueueEngine::DeleteSubscription(const v1::DeleteSubscriptionRequest& request, SubscriptionDone done) {
  auto queue = QueueOf("name", request.name());
  if (!queue.ok()) return done(queue.status());
  core::Mutation m;
  m.scope = "notification.DeleteSubscription";
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request);
  m.changes_routes = true;
  auto removed = std::make_shared<std::string>();
  const std::string name = absl::StrCat(kSubscriptionsPrefix, *queue);
  m.prepare = [q = *queue, name, removed](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    ASSIGN_OR_RETURN(auto existing, txn.Get(kSubscriptionKind, name));
    if (!existing.has_value()) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    *removed = *existing;
    self.writes.push_back({kSubscriptionKind, name, "", true});
    // Its waiting messages and its dead letters go with it.
    self.jobs.push_back(core::JobWrite::CancelAll(JobKind(q), "the subscription was deleted"));
    return core::ForEachResource(
        [&txn](const std::string& after) { return txn.List(kDeadLetterKind, after, 1000); }, DeadLetterPrefix(q),
        [&self](const std::string& dl, const std::string&) {
          self.writes.push_back({kDeadLetterKind, dl, "", true});
          return absl::OkStatus();
        });
  };
  m.make_response = [removed](int64_t) { return *removed; };
  store_->CommitAsync(std::move(m), [this, q = *queue, done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    if (!r->replayed) {
      {
        std::lock_guard<std::mutex> lock(wants_mu_);
        wants_.erase(std::remove_if(wants_.begin(), wants_.end(), [&](const auto& s) { return s.queue() == q; }),
                     wants_.end());
      }
      EndLocal(q, absl::NotFoundError("the subscription was deleted"));
    }
    v1::Subscription out;
    out.ParseFromString(r->response);
    done(core::MaybeReplayed<v1::Subscription>(std::move(out), r->replayed));
  });
}

absl::StatusOr<v1::Subscription> QueueEngine::GetSubscription(absl::string_view name) const {
  ASSIGN_OR_RETURN(std::string q, QueueOf("name", name));
  ASSIGN_OR_RETURN(auto sub, ReadSubscription(q));
  if (!sub.has_value()) {
    return absl::NotFoundError(absl::StrCat("subscriptions/", q, " does not exist; create it first"));
  }
  return Snapshot(std::move(*sub));
}

absl::StatusOr<v1::ListSubscriptionsResponse> QueueEngine::ListSubscriptions(
    const v1::ListSubscriptionsRequest& request) const {
  ASSIGN_OR_RETURN(auto page, core::ListPage<v1::Subscription>(*store_, kSubscriptionKind, request.page_size(),
                                                               request.page_token(), nullptr));
  v1::ListSubscriptionsResponse resp;
  for (auto& s : page.items) {
    ASSIGN_OR_RETURN(*resp.add_subscriptions(), Snapshot(std::move(s)));
  }
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

bool QueueEngine::Wants(const std::string& routing_key) const {
  std::lock_guard<std::mutex> lock(wants_mu_);
  for (const auto& sub : wants_) {
    if (Binds(sub, routing_key)) return true;
  }
  return false;
}

absl::StatusOr<int> QueueEngine::Route(const v1::BusEvent& event, core::TxnReader& txn, core::Mutation& m,
                                       AfterCommit* after_commit) {
  const uint64_t version = txn.RoutesVersion();
  if (!routes_version_.has_value() || *routes_version_ != version) {
    auto subs = ReadAll([&txn](const std::string& after) { return txn.List(kSubscriptionKind, after, 1000); });
    if (!subs.ok()) return subs.status();
    routes_ = std::move(*subs);
    routes_version_ = version;
  }
  const std::string& key = event.envelope().event_name();
  int count = 0;
  std::string payload;
  std::vector<std::pair<std::string, size_t>> direct;
  for (const auto& sub : routes_) {
    if (!Binds(sub, key)) continue;
    if (payload.empty()) {
      v1::QueuedMessage msg;
      msg.set_sequence(event.sequence());
      *msg.mutable_envelope() = event.envelope();
      *msg.mutable_visible_time() = event.publish_time();
      payload = msg.SerializeAsString();
    }
    // A stream here with room and nothing older waiting: the message is
    // claimed for it in the publish itself, one write and one round fewer.
    if (ReserveDirect(sub.queue(), event.envelope().event_uuid())) {
      direct.emplace_back(sub.queue(), m.jobs.size());
      m.jobs.push_back(core::JobWrite::EnqueueClaimed(JobKind(sub.queue()), JobKey(event.sequence()), payload, owner_,
                                                      absl::Microseconds(ToUs(sub.visibility_timeout()))));
    } else {
      m.jobs.push_back(core::JobWrite::Enqueue(JobKind(sub.queue()), JobKey(event.sequence()), payload));
    }
    // The key is this event's log sequence, given in this transaction: no
    // other job of the queue has it, so it goes unindexed (job.h).
    m.jobs.back().deduplicate = false;
    ++count;
  }
  if (!direct.empty()) {
    after_commit->push_back([this, direct = std::move(direct), uuid = event.envelope().event_uuid(),
                             payload = std::move(payload)](const core::CommitResult* committed) {
      OnRouted(direct, uuid, payload, committed);
    });
  }
  return count;
}

absl::StatusOr<v1::ListDeadLettersResponse> QueueEngine::ListDeadLetters(
    const v1::ListDeadLettersRequest& request) const {
  std::string prefix;
  if (!request.subscription().empty()) {
    ASSIGN_OR_RETURN(std::string q, QueueOf("subscription", request.subscription()));
    prefix = DeadLetterPrefix(q);
  }
  ASSIGN_OR_RETURN(auto page, core::ListPage<v1::DeadLetter>(*store_, kDeadLetterKind, request.page_size(),
                                                             request.page_token(), nullptr, prefix));
  v1::ListDeadLettersResponse resp;
  for (auto& d : page.items) *resp.add_dead_letters() = std::move(d);
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

absl::StatusOr<v1::DeadLetter> QueueEngine::GetDeadLetter(absl::string_view name) const {
  if (!absl::StartsWith(name, kSubscriptionsPrefix) || !absl::StrContains(name, "/deadLetters/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("name '", Echo(name), "' must look like subscriptions/{queue}/deadLetters/{id}"));
  }
  return core::GetParsed<v1::DeadLetter>(*store_, kDeadLetterKind, name, "dead letter");
}

void QueueEngine::ReplayDeadLetter(const v1::ReplayDeadLetterRequest& request,
                                   std::function<void(core::Reply<v1::DeadLetter>)> done) {
  core::Mutation m;
  m.scope = "notification.ReplayDeadLetter";
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request);
  auto dl = GetDeadLetter(request.name());
  if (absl::IsNotFound(dl.status())) {
    // Gone: perhaps replayed by this very request_id the first time.
    return core::CommitOrRefuse(*store_, std::move(m), dl.status(), [done = std::move(done)](auto r) {
      if (!r.ok()) return done(r.status());
      v1::DeadLetter first;
      first.ParseFromString(r->response);
      done(core::Replayed(std::move(first)));
    });
  }
  if (!dl.ok()) return done(dl.status());
  absl::string_view rest = dl->name();
  absl::ConsumePrefix(&rest, kSubscriptionsPrefix);
  std::string queue(rest.substr(0, rest.find('/')));
  int64_t seq = 0;
  if (!absl::SimpleAtoi(rest.substr(rest.rfind('/') + 1), &seq)) {
    return done(absl::InvalidArgumentError(absl::StrCat("name '", Echo(request.name()), "' has no numeric id")));
  }
  v1::QueuedMessage msg;
  msg.set_sequence(seq);
  *msg.mutable_envelope() = dl->envelope();
  *msg.mutable_visible_time() = TimeUtil::MicrosecondsToTimestamp(NowUs());
  m.prepare = [queue, seq, name = dl->name(), msg](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    ASSIGN_OR_RETURN(auto still, txn.Get(kDeadLetterKind, name));
    if (!still.has_value()) return absl::NotFoundError(absl::StrCat("dead letter '", Echo(name), "' does not exist"));
    ASSIGN_OR_RETURN(auto sub, txn.Get(kSubscriptionKind, absl::StrCat(kSubscriptionsPrefix, queue)));
    if (!sub.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("subscriptions/", queue, " was deleted; create it again before replaying"));
    }
    self.writes.push_back({kDeadLetterKind, name, "", true});
    self.jobs.push_back(core::JobWrite::Enqueue(JobKind(queue), JobKey(seq), msg.SerializeAsString()));
    return absl::OkStatus();
  };
  m.make_response = [dl = *dl](int64_t) { return dl.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, queue, done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    if (!r->replayed && !r->jobs.empty() && r->jobs.front().job_id == 0) {
      // De-duplicated: the message is on the queue already (cannot happen
      // while its dead letter existed, but say so rather than lose it).
      log::Warn("a replayed dead letter's message was already queued", {{"queue", queue}});
    }
    Poke(queue);
    v1::DeadLetter resp;
    resp.ParseFromString(r->response);
    done(core::MaybeReplayed<v1::DeadLetter>(std::move(resp), r->replayed));
  });
}

void QueueEngine::PurgeDeadLetters(const v1::PurgeDeadLettersRequest& request,
                                   std::function<void(core::Reply<v1::PurgeDeadLettersResponse>)> done) {
  std::string prefix;
  if (!request.subscription().empty()) {
    auto q = QueueOf("subscription", request.subscription());
    if (!q.ok()) return done(q.status());
    prefix = DeadLetterPrefix(*q);
  }
  core::Mutation m;
  m.scope = "notification.PurgeDeadLetters";
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request);
  std::string token;
  do {
    auto page = core::ListPage<v1::DeadLetter>(*store_, kDeadLetterKind, core::kMaxPageSize, token, nullptr, prefix);
    if (!page.ok()) return done(page.status());
    for (const auto& d : page->items) m.writes.push_back({kDeadLetterKind, d.name(), "", true});
    token = page->next_page_token;
  } while (!token.empty());
  v1::PurgeDeadLettersResponse resp;
  resp.set_purged(static_cast<int64_t>(m.writes.size()));
  m.make_response = [resp](int64_t) { return resp.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    v1::PurgeDeadLettersResponse out;
    out.ParseFromString(r->response);
    done(core::MaybeReplayed<v1::PurgeDeadLettersResponse>(std::move(out), r->replayed));
  });
}

}  // namespace switchboard::notification
