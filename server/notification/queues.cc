#include "server/notification/queues.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/uuid.h"
#include "server/core/fingerprint.h"
#include "server/core/list_page.h"
#include "server/notification/topic.h"

namespace switchboard::notification {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kSubscriptionKind[] = "subscription";
constexpr char kMessageKind[] = "bus_msg";
constexpr char kDeadLetterKind[] = "dead_letter";
constexpr char kSubscriptionsPrefix[] = "subscriptions/";

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

std::string MessageName(absl::string_view queue, int64_t seq) { return absl::StrFormat("%s/%020d", queue, seq); }
std::string DeadLetterName(absl::string_view queue, int64_t seq) {
  return absl::StrFormat("subscriptions/%s/deadLetters/%020d", queue, seq);
}

absl::Status ValidateQueueName(absl::string_view field, absl::string_view queue) {
  if (queue.empty() || queue.size() > 200) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be 1 to 200 characters"));
  }
  for (char c : queue) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat(field, " '", queue,
                                                     "' may hold only letters, digits, '_', '-' and '.'"));
    }
  }
  return absl::OkStatus();
}

// "subscriptions/q" or "q" -> "q".
absl::StatusOr<std::string> QueueOf(absl::string_view field, absl::string_view name) {
  absl::string_view q = name;
  absl::ConsumePrefix(&q, kSubscriptionsPrefix);
  RETURN_IF_ERROR(ValidateQueueName(field, q));
  return std::string(q);
}

absl::Status CheckDuration(absl::string_view field, const google::protobuf::Duration& d, absl::Duration min,
                           absl::Duration max) {
  absl::Duration v = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  if (v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", absl::FormatDuration(v), "; give between ",
                                                   absl::FormatDuration(min), " and ", absl::FormatDuration(max)));
  }
  return absl::OkStatus();
}

google::protobuf::Duration ToProto(absl::Duration d) {
  return TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(d));
}
int64_t ToUs(const google::protobuf::Duration& d) { return TimeUtil::DurationToMicroseconds(d); }

}  // namespace

struct QueueEngine::Message {
  enum State { kPending, kReady, kLeased, kSettling };
  v1::QueuedMessage stored;
  State state = kPending;
  int64_t visible_us = 0;
  int64_t lease_deadline_us = 0;
  std::string delivery_id;
  Attached* holder = nullptr;
  int attempt = 0;
};

struct QueueEngine::Queue {
  v1::Subscription sub;
  std::map<int64_t, Message> msgs;
  std::set<std::pair<int64_t, int64_t>> ready;  // (visible_us, seq)
  std::vector<Attached*> consumers;
  size_t next_consumer = 0;
  int64_t dead_letters = 0;
};

struct QueueEngine::Attached {
  std::shared_ptr<Consumer> consumer;
  std::string queue;
  int max_in_flight = 16;
  int in_flight = 0;
};

QueueEngine::QueueEngine(core::Store* store, QueueOptions defaults) : store_(store), defaults_(defaults) {}

QueueEngine::~QueueEngine() { Close(); }

absl::Status QueueEngine::Load() {
  std::unique_lock<std::mutex> lock(mu_);
  std::string after;
  for (;;) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kSubscriptionKind, after, 1000));
    for (auto& [name, value] : page.items) {
      auto q = std::make_unique<Queue>();
      if (!q->sub.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
      queues_[q->sub.queue()] = std::move(q);
    }
    if (page.next_after.empty()) break;
    after = page.next_after;
  }
  after.clear();
  int64_t orphans = 0;
  for (;;) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kMessageKind, after, 1000));
    for (auto& [name, value] : page.items) {
      auto it = queues_.find(name.substr(0, name.rfind('/')));
      if (it == queues_.end()) {
        ++orphans;
        continue;
      }
      Message msg;
      if (!msg.stored.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
      msg.attempt = msg.stored.attempts();
      int64_t seq = msg.stored.sequence();
      Queue& q = *it->second;
      auto& m = q.msgs[seq] = std::move(msg);
      MakeReady(q, m, TimeUtil::TimestampToMicroseconds(m.stored.visible_time()));
    }
    if (page.next_after.empty()) break;
    after = page.next_after;
  }
  after.clear();
  for (;;) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kDeadLetterKind, after, 1000));
    for (auto& [name, value] : page.items) {
      absl::string_view rest = name;
      absl::ConsumePrefix(&rest, kSubscriptionsPrefix);
      auto it = queues_.find(rest.substr(0, rest.find('/')));
      if (it != queues_.end()) ++it->second->dead_letters;
    }
    if (page.next_after.empty()) break;
    after = page.next_after;
  }
  if (orphans > 0) log::Info("bus messages of deleted subscriptions ignored", {{"count", orphans}});
  timer_ = std::thread([this] { TimerLoop(); });
  return absl::OkStatus();
}

void QueueEngine::Close() {
  std::vector<std::shared_ptr<Consumer>> ending;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [c, a] : attached_) ending.push_back(a->consumer);
  }
  closed_cv_.notify_all();
  for (auto& c : ending) c->End(absl::UnavailableError("server is shutting down; subscribe again once it is back"));
  if (timer_.joinable()) timer_.join();
}

v1::Subscription QueueEngine::Snapshot(const Queue& q) const {
  v1::Subscription s = q.sub;
  int64_t in_flight = 0;
  for (const auto& [seq, m] : q.msgs) in_flight += (m.state == Message::kLeased || m.state == Message::kSettling);
  s.set_ready_count(static_cast<int64_t>(q.ready.size()));
  s.set_in_flight_count(in_flight);
  s.set_dead_letter_count(q.dead_letters);
  return s;
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
  auto inserted = std::make_shared<bool>(false);
  m.prepare = [this, sub, inserted](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    ASSIGN_OR_RETURN(auto existing, txn.Get(kSubscriptionKind, sub.name()));
    if (existing.has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(sub.name(), " already exists; delete it first to change it"));
    }
    self.writes.push_back({kSubscriptionKind, sub.name(), sub.SerializeAsString(), false});
    std::unique_lock<std::mutex> lock(mu_);
    auto q = std::make_unique<Queue>();
    q->sub = sub;
    queues_[sub.queue()] = std::move(q);
    *inserted = true;
    return absl::OkStatus();
  };
  m.make_response = [sub](int64_t) { return sub.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, sub, inserted, done = std::move(done)](auto r) {
    if (!r.ok()) {
      if (*inserted) {
        std::unique_lock<std::mutex> lock(mu_);
        queues_.erase(sub.queue());
      }
      return done(r.status());
    }
    v1::Subscription out;
    out.ParseFromString(r->response);
    std::unique_lock<std::mutex> lock(mu_);
    auto it = queues_.find(out.queue());
    done(core::MaybeReplayed<v1::Subscription>(it == queues_.end() ? out : Snapshot(*it->second), r->replayed));
  });
}

void QueueEngine::DeleteSubscription(const v1::DeleteSubscriptionRequest& request, SubscriptionDone done) {
  auto queue = QueueOf("name", request.name());
  if (!queue.ok()) return done(queue.status());
  core::Mutation m;
  m.scope = "notification.DeleteSubscription";
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request);
  auto removed = std::make_shared<std::unique_ptr<Queue>>();
  m.prepare = [this, q = *queue, removed](core::TxnReader&, core::Mutation& self) -> absl::Status {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = queues_.find(q);
    if (it == queues_.end()) return absl::NotFoundError(absl::StrCat("subscriptions/", q, " does not exist"));
    self.writes.push_back({kSubscriptionKind, it->second->sub.name(), "", true});
    for (const auto& [seq, msg] : it->second->msgs) self.writes.push_back({kMessageKind, MessageName(q, seq), "", true});
    *removed = std::move(it->second);
    queues_.erase(it);
    return absl::OkStatus();
  };
  m.make_response = [removed](int64_t) { return *removed ? (*removed)->sub.SerializeAsString() : std::string(); };
  store_->CommitAsync(std::move(m), [this, removed, done = std::move(done)](auto r) {
    if (!r.ok()) {
      if (*removed) {
        std::unique_lock<std::mutex> lock(mu_);
        queues_[(*removed)->sub.queue()] = std::move(*removed);
      }
      return done(r.status());
    }
    std::vector<std::shared_ptr<Consumer>> ending;
    if (*removed) {
      std::unique_lock<std::mutex> lock(mu_);
      for (Attached* a : (*removed)->consumers) ending.push_back(a->consumer);
    }
    for (auto& c : ending) c->End(absl::NotFoundError("the subscription was deleted"));
    v1::Subscription out;
    out.ParseFromString(r->response);
    done(core::MaybeReplayed<v1::Subscription>(std::move(out), r->replayed));
  });
}

absl::StatusOr<v1::Subscription> QueueEngine::GetSubscription(absl::string_view name) const {
  ASSIGN_OR_RETURN(std::string q, QueueOf("name", name));
  std::unique_lock<std::mutex> lock(mu_);
  auto it = queues_.find(q);
  if (it == queues_.end()) {
    return absl::NotFoundError(absl::StrCat("subscriptions/", q, " does not exist; create it first"));
  }
  return Snapshot(*it->second);
}

absl::StatusOr<v1::ListSubscriptionsResponse> QueueEngine::ListSubscriptions(
    const v1::ListSubscriptionsRequest& request) const {
  ASSIGN_OR_RETURN(int limit, core::PageSize(request.page_size()));
  ASSIGN_OR_RETURN(std::string after, core::DecodePageToken("subscriptions", request.page_token()));
  v1::ListSubscriptionsResponse resp;
  std::unique_lock<std::mutex> lock(mu_);
  for (auto it = queues_.upper_bound(after); it != queues_.end(); ++it) {
    if (resp.subscriptions_size() == limit) {
      resp.set_next_page_token(core::EncodePageToken("subscriptions", resp.subscriptions(limit - 1).queue()));
      break;
    }
    *resp.add_subscriptions() = Snapshot(*it->second);
  }
  return resp;
}

bool QueueEngine::Wants(const std::string& routing_key) const {
  std::unique_lock<std::mutex> lock(mu_);
  for (const auto& [name, q] : queues_) {
    for (const auto& b : q->sub.bindings()) {
      if (TopicMatches(b, routing_key)) return true;
    }
  }
  return false;
}

int QueueEngine::Route(const v1::BusEvent& event, core::Mutation& m, AfterCommit* after_commit) {
  const std::string& key = event.envelope().event_name();
  const int64_t seq = event.sequence();
  std::vector<std::string> matched;
  {
    std::unique_lock<std::mutex> lock(mu_);
    for (auto& [name, q] : queues_) {
      bool match = false;
      for (const auto& b : q->sub.bindings()) match = match || TopicMatches(b, key);
      if (!match) continue;
      Message& msg = q->msgs[seq];
      msg.state = Message::kPending;
      msg.stored.set_sequence(seq);
      *msg.stored.mutable_envelope() = event.envelope();
      *msg.stored.mutable_visible_time() = event.publish_time();
      m.writes.push_back({kMessageKind, MessageName(name, seq), msg.stored.SerializeAsString(), false});
      matched.push_back(name);
    }
  }
  const int count = static_cast<int>(matched.size());
  if (!matched.empty()) {
    after_commit->push_back([this, matched = std::move(matched), seq](bool ok) {
      std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out;
      {
        std::unique_lock<std::mutex> lock(mu_);
        for (const auto& name : matched) {
          auto qit = queues_.find(name);
          if (qit == queues_.end()) continue;
          Queue& q = *qit->second;
          auto mit = q.msgs.find(seq);
          if (mit == q.msgs.end() || mit->second.state != Message::kPending) continue;
          if (!ok) {
            q.msgs.erase(mit);
            continue;
          }
          MakeReady(q, mit->second, 0);
          Dispatch(q, &out);
        }
      }
      Send(std::move(out));
    });
  }
  return count;
}

void QueueEngine::MakeReady(Queue& q, Message& msg, int64_t visible_us) {
  msg.state = Message::kReady;
  msg.holder = nullptr;
  msg.delivery_id.clear();
  msg.visible_us = visible_us;
  q.ready.insert({visible_us, msg.stored.sequence()});
}

void QueueEngine::ReleaseLease(Queue& q, Message& msg) {
  timers_.erase({msg.lease_deadline_us, q.sub.queue(), msg.stored.sequence()});
  if (msg.holder != nullptr) --msg.holder->in_flight;
  msg.holder = nullptr;
}

void QueueEngine::Dispatch(Queue& q, std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>>* out) {
  if (q.consumers.empty() || closed_) return;
  const int64_t now = NowUs();
  const int64_t visibility = ToUs(q.sub.visibility_timeout());
  while (!q.ready.empty()) {
    auto [visible, seq] = *q.ready.begin();
    if (visible > now) {
      timers_.insert({visible, q.sub.queue(), seq});
      break;
    }
    Attached* a = nullptr;
    for (size_t i = 0; i < q.consumers.size() && a == nullptr; ++i) {
      Attached* c = q.consumers[(q.next_consumer + i) % q.consumers.size()];
      if (c->in_flight < c->max_in_flight) {
        a = c;
        q.next_consumer = (q.next_consumer + i + 1) % q.consumers.size();
      }
    }
    if (a == nullptr) break;
    q.ready.erase(q.ready.begin());
    Message& msg = q.msgs[seq];
    msg.state = Message::kLeased;
    ++msg.attempt;
    msg.delivery_id = absl::StrCat(seq, ".", ++lease_counter_);
    msg.holder = a;
    ++a->in_flight;
    msg.lease_deadline_us = now + visibility;
    timers_.insert({msg.lease_deadline_us, q.sub.queue(), seq});
    v1::Delivery d;
    d.set_delivery_id(msg.delivery_id);
    d.set_subscription(q.sub.name());
    *d.mutable_envelope() = msg.stored.envelope();
    d.set_attempt(msg.attempt);
    d.set_softfail_count(msg.stored.softfail_count());
    out->emplace_back(a->consumer, std::move(d));
  }
}

void QueueEngine::Send(std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out) {
  for (auto& [consumer, delivery] : out) consumer->Deliver(std::move(delivery));
}

void QueueEngine::TimerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    const int64_t now = NowUs();
    if (timers_.empty() || std::get<0>(*timers_.begin()) > now) {
      int64_t wait_us = timers_.empty() ? 50000 : std::min<int64_t>(std::get<0>(*timers_.begin()) - now, 50000);
      closed_cv_.wait_for(lock, std::chrono::microseconds(wait_us), [this] { return closed_; });
      continue;
    }
    std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out;
    std::set<std::string> touched;
    while (!timers_.empty() && std::get<0>(*timers_.begin()) <= now) {
      auto [due, queue, seq] = *timers_.begin();
      timers_.erase(timers_.begin());
      auto qit = queues_.find(queue);
      if (qit == queues_.end()) continue;
      auto mit = qit->second->msgs.find(seq);
      if (mit == qit->second->msgs.end()) continue;
      Message& msg = mit->second;
      if (msg.state == Message::kLeased && msg.lease_deadline_us == due) {
        // Visibility timeout: the holder never answered.
        ReleaseLease(*qit->second, msg);
        MakeReady(*qit->second, msg, 0);
      }
      touched.insert(queue);
    }
    for (const auto& name : touched) {
      auto qit = queues_.find(name);
      if (qit != queues_.end()) Dispatch(*qit->second, &out);
    }
    if (!out.empty()) {
      lock.unlock();
      Send(std::move(out));
      lock.lock();
    }
  }
}

absl::Status QueueEngine::Attach(absl::string_view subscription, int max_in_flight,
                                 std::shared_ptr<Consumer> consumer) {
  ASSIGN_OR_RETURN(std::string queue, QueueOf("subscription", subscription));
  if (max_in_flight < 0 || max_in_flight > 10000) {
    return absl::InvalidArgumentError("max_in_flight must be between 1 and 10000 (0 means 16)");
  }
  std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return absl::UnavailableError("server is shutting down");
    auto it = queues_.find(queue);
    if (it == queues_.end()) {
      return absl::NotFoundError(absl::StrCat(
          "subscriptions/", queue, " does not exist; create it with CreateSubscription (sbctl bus subscribe --bind)"));
    }
    auto a = std::make_unique<Attached>();
    a->consumer = std::move(consumer);
    a->queue = queue;
    a->max_in_flight = max_in_flight == 0 ? 16 : max_in_flight;
    it->second->consumers.push_back(a.get());
    attached_[a->consumer.get()] = std::move(a);
    Dispatch(*it->second, &out);
  }
  Send(std::move(out));
  return absl::OkStatus();
}

void QueueEngine::Detach(Consumer* consumer) {
  std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out;
  std::shared_ptr<Consumer> keep;  // released after the lock
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = attached_.find(consumer);
    if (it == attached_.end()) return;
    Attached* a = it->second.get();
    keep = a->consumer;
    auto qit = queues_.find(a->queue);
    if (qit != queues_.end()) {
      Queue& q = *qit->second;
      for (auto& [seq, msg] : q.msgs) {
        if (msg.holder == a && msg.state == Message::kLeased) {
          ReleaseLease(q, msg);
          MakeReady(q, msg, 0);
        } else if (msg.holder == a) {
          msg.holder = nullptr;
        }
      }
      q.consumers.erase(std::remove(q.consumers.begin(), q.consumers.end(), a), q.consumers.end());
      Dispatch(q, &out);
    }
    attached_.erase(it);
  }
  Send(std::move(out));
}

absl::StatusOr<std::pair<QueueEngine::Queue*, QueueEngine::Message*>> QueueEngine::FindLease(
    absl::string_view subscription, absl::string_view delivery_id) {
  ASSIGN_OR_RETURN(std::string queue, QueueOf("subscription", subscription));
  int64_t seq = 0;
  if (!absl::SimpleAtoi(delivery_id.substr(0, delivery_id.find('.')), &seq)) {
    return absl::InvalidArgumentError(
        absl::StrCat("delivery_id '", delivery_id, "' is not one this server issued; pass Delivery.delivery_id"));
  }
  auto qit = queues_.find(queue);
  if (qit == queues_.end()) return absl::NotFoundError(absl::StrCat("subscriptions/", queue, " does not exist"));
  auto mit = qit->second->msgs.find(seq);
  if (mit == qit->second->msgs.end() || mit->second.state != Message::kLeased ||
      mit->second.delivery_id != delivery_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "delivery ", delivery_id,
        " is no longer outstanding: it was already answered, or its visibility timeout passed and it was "
        "delivered again; answer the newer delivery"));
  }
  return std::make_pair(qit->second.get(), &mit->second);
}

void QueueEngine::Settled(const std::string& queue, int64_t seq, bool ok, std::optional<v1::QueuedMessage> requeue) {
  std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto qit = queues_.find(queue);
    if (qit == queues_.end()) return;
    Queue& q = *qit->second;
    auto mit = q.msgs.find(seq);
    if (mit == q.msgs.end()) return;
    if (!ok) {
      MakeReady(q, mit->second, 0);
    } else if (requeue.has_value()) {
      mit->second.stored = std::move(*requeue);
      MakeReady(q, mit->second, TimeUtil::TimestampToMicroseconds(mit->second.stored.visible_time()));
    } else {
      q.msgs.erase(mit);
    }
    Dispatch(q, &out);
  }
  Send(std::move(out));
}

void QueueEngine::Ack(const v1::AckRequest& request, std::function<void(absl::StatusOr<v1::AckResponse>)> done) {
  std::string queue;
  int64_t seq = 0;
  std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto lease = FindLease(request.subscription(), request.delivery_id());
    if (!lease.ok()) return done(lease.status());
    auto [q, msg] = *lease;
    ReleaseLease(*q, *msg);
    msg->state = Message::kSettling;
    queue = q->sub.queue();
    seq = msg->stored.sequence();
    Dispatch(*q, &out);
  }
  Send(std::move(out));
  core::Mutation m;
  m.writes.push_back({kMessageKind, MessageName(queue, seq), "", true});
  store_->CommitAsync(std::move(m), [this, queue, seq, done = std::move(done)](auto r) {
    Settled(queue, seq, r.ok(), std::nullopt);
    if (!r.ok()) return done(r.status());
    done(v1::AckResponse());
  });
}

void QueueEngine::Nack(const v1::NackRequest& request, std::function<void(absl::StatusOr<v1::NackResponse>)> done) {
  if (request.error_type() != v1::BusError::SOFTERROR && request.error_type() != v1::BusError::HARDERROR) {
    return done(absl::InvalidArgumentError(
        "error_type must be SOFTERROR (retry later) or HARDERROR (never); debug, info and warning are not answers"));
  }
  if (request.error_message().empty()) {
    return done(absl::InvalidArgumentError("error_message is required: say why the message was not processed"));
  }
  std::string queue;
  v1::QueuedMessage updated;
  v1::Subscription sub;
  std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto lease = FindLease(request.subscription(), request.delivery_id());
    if (!lease.ok()) return done(lease.status());
    auto [q, msg] = *lease;
    ReleaseLease(*q, *msg);
    msg->state = Message::kSettling;
    queue = q->sub.queue();
    sub = q->sub;
    updated = msg->stored;
    updated.set_attempts(msg->attempt);
    Dispatch(*q, &out);
  }
  Send(std::move(out));

  const int64_t now = NowUs();
  v1::BusEnvelope* env = updated.mutable_envelope();
  v1::BusError* err = env->add_errors();
  err->set_error_type(request.error_type());
  err->set_error_uuid(NewUuid());
  err->set_error_sender(sub.app_id());
  err->set_error_message(request.error_message());
  *err->mutable_timestamp() = TimeUtil::MicrosecondsToTimestamp(now);
  *err->mutable_error_debug() = request.error_debug();
  err->set_error_code(request.error_code());
  env->set_errors_count(env->errors_count() + 1);
  const bool hard = request.error_type() == v1::BusError::HARDERROR;
  if (!hard) updated.set_softfail_count(updated.softfail_count() + 1);
  const bool dead = hard || updated.softfail_count() >= sub.max_attempts();
  const int64_t seq = updated.sequence();

  core::Mutation m;
  v1::NackResponse resp;
  if (dead) {
    resp.set_dead_lettered(true);
    v1::DeadLetter dl;
    dl.set_name(DeadLetterName(queue, seq));
    dl.set_subscription(sub.name());
    *dl.mutable_envelope() = updated.envelope();
    dl.set_reason(hard ? absl::StrCat("harderror: ", request.error_message())
                       : absl::StrCat("max attempts reached (", sub.max_attempts(), " soft errors)"));
    *dl.mutable_dead_letter_time() = TimeUtil::MicrosecondsToTimestamp(now);
    m.writes.push_back({kMessageKind, MessageName(queue, seq), "", true});
    m.writes.push_back({kDeadLetterKind, dl.name(), dl.SerializeAsString(), false});
    v1::NotificationEvent event;
    *event.mutable_dead_letter() = dl;
    m.events.push_back({"notification", kDeadLetterKind, dl.name(), sub.name(), event.SerializeAsString()});
  } else {
    *updated.mutable_visible_time() = TimeUtil::MicrosecondsToTimestamp(now + ToUs(sub.retry_delay()));
    *resp.mutable_redeliver_time() = updated.visible_time();
    m.writes.push_back({kMessageKind, MessageName(queue, seq), updated.SerializeAsString(), false});
  }
  store_->CommitAsync(std::move(m), [this, queue, seq, dead, updated, resp, done = std::move(done)](auto r) {
    if (dead && r.ok()) {
      std::unique_lock<std::mutex> lock(mu_);
      auto qit = queues_.find(queue);
      if (qit != queues_.end()) ++qit->second->dead_letters;
    }
    Settled(queue, seq, r.ok(), dead ? std::nullopt : std::optional<v1::QueuedMessage>(updated));
    if (!r.ok()) return done(r.status());
    done(resp);
  });
}

absl::StatusOr<v1::ListDeadLettersResponse> QueueEngine::ListDeadLetters(
    const v1::ListDeadLettersRequest& request) const {
  std::string prefix;
  if (!request.subscription().empty()) {
    ASSIGN_OR_RETURN(std::string q, QueueOf("subscription", request.subscription()));
    prefix = absl::StrCat(kSubscriptionsPrefix, q, "/deadLetters/");
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
  auto dl = GetDeadLetter(request.name());
  if (absl::IsNotFound(dl.status())) {
    // Gone: perhaps replayed by this very request_id the first time.
    core::Mutation m;
    m.scope = "notification.ReplayDeadLetter";
    m.request_id = request.request_id();
    m.fingerprint = core::Fingerprint(request);
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
  core::Mutation m;
  m.scope = "notification.ReplayDeadLetter";
  m.request_id = request.request_id();
  m.fingerprint = core::Fingerprint(request);
  m.prepare = [this, queue, seq, name = dl->name(), msg](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    ASSIGN_OR_RETURN(auto still, txn.Get(kDeadLetterKind, name));
    if (!still.has_value()) return absl::NotFoundError(absl::StrCat("dead letter '", Echo(name), "' does not exist"));
    std::unique_lock<std::mutex> lock(mu_);
    auto qit = queues_.find(queue);
    if (qit == queues_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("subscriptions/", queue, " was deleted; create it again before replaying"));
    }
    if (qit->second->msgs.count(seq) > 0) {
      return absl::FailedPreconditionError(absl::StrCat("message ", seq, " is already back on subscriptions/", queue));
    }
    Message& pending = qit->second->msgs[seq];
    pending.stored = msg;
    self.writes.push_back({kDeadLetterKind, name, "", true});
    self.writes.push_back({kMessageKind, MessageName(queue, seq), msg.SerializeAsString(), false});
    return absl::OkStatus();
  };
  m.make_response = [dl = *dl](int64_t) { return dl.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, queue, seq, done = std::move(done)](auto r) {
    std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out;
    if (!r.ok() || !r->replayed) {
      std::unique_lock<std::mutex> lock(mu_);
      auto qit = queues_.find(queue);
      if (qit != queues_.end()) {
        auto mit = qit->second->msgs.find(seq);
        if (mit != qit->second->msgs.end() && mit->second.state == Message::kPending) {
          if (r.ok()) {
            --qit->second->dead_letters;
            MakeReady(*qit->second, mit->second, 0);
            Dispatch(*qit->second, &out);
          } else {
            qit->second->msgs.erase(mit);
          }
        }
      }
    }
    Send(std::move(out));
    if (!r.ok()) return done(r.status());
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
    prefix = absl::StrCat(kSubscriptionsPrefix, *q, "/deadLetters/");
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
  std::vector<std::string> names;
  for (const auto& w : m.writes) names.push_back(w.name);
  m.make_response = [resp](int64_t) { return resp.SerializeAsString(); };
  store_->CommitAsync(std::move(m), [this, names, done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    if (!r->replayed) {
      std::unique_lock<std::mutex> lock(mu_);
      for (const auto& n : names) {
        absl::string_view rest = n;
        absl::ConsumePrefix(&rest, kSubscriptionsPrefix);
        auto qit = queues_.find(rest.substr(0, rest.find('/')));
        if (qit != queues_.end()) --qit->second->dead_letters;
      }
    }
    v1::PurgeDeadLettersResponse out;
    out.ParseFromString(r->response);
    done(core::MaybeReplayed<v1::PurgeDeadLettersResponse>(std::move(out), r->replayed));
  });
}

QueueEngine::Totals QueueEngine::totals() const {
  Totals t;
  std::unique_lock<std::mutex> lock(mu_);
  for (const auto& [name, q] : queues_) {
    t.ready += static_cast<int64_t>(q->ready.size());
    t.consumers += static_cast<int64_t>(q->consumers.size());
    for (const auto& [seq, m] : q->msgs) t.in_flight += (m.state == Message::kLeased || m.state == Message::kSettling);
  }
  return t;
}

}  // namespace switchboard::notification
