// The queue engine's streams, claims and answers (queues.h says how a
// message's job is its state); queues.cc holds subscriptions and routing.
#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status.h"
#include "common/uuid.h"
#include "server/core/job_queue.h"
#include "server/core/log_follower.h"
#include "server/core/ticker.h"
#include "server/notification/queue_names.h"
#include "server/notification/queues.h"
#include "server/notification/topic.h"

namespace switchboard::notification {

using google::protobuf::util::TimeUtil;
using namespace queue_names;  // NOLINT: this engine's own names

namespace {
// Most jobs one claim asks for.
constexpr int kClaimBatch = 256;
// Deliveries one Ack answers, at most.
constexpr int kMaxAckIds = 1000;
// Publishes claimed here that the log follower has not passed yet, at most.
constexpr size_t kMaxDirectRemembered = 65536;
}  // namespace

struct QueueEngine::Attached {
  std::shared_ptr<Consumer> consumer;
  std::string queue;
  int max_in_flight = 16;
  int in_flight = 0;
  // Ending (Quiesce): takes nothing more.
  bool ending = false;
  int Room() const { return ending ? 0 : std::max(0, max_in_flight - in_flight); }
};

// A subscription with streams attached here.
struct QueueEngine::Queue {
  v1::Subscription sub;
  std::vector<Attached*> consumers;
  size_t next_consumer = 0;
  bool claiming = false;
  bool again = false;
  // The last claim found less than it asked for, and no message came for
  // this queue since that the streams had no room for: nothing waits
  // ready. A publish here may then enqueue its message claimed (Route),
  // and an answer needs no claim to follow it (Answered).
  bool drained = false;
  int asked = 0;
  // Room promised to publishes not committed yet, by event uuid.
  std::set<std::string> reserved;

  int Room() const {
    int room = 0;
    for (const Attached* a : consumers) room += a->Room();
    return room - static_cast<int>(reserved.size());
  }
};

// A delivery made here and not answered yet.
struct QueueEngine::Outstanding {
  core::JobLease lease;
  std::string queue;
  Attached* holder = nullptr;
  // Shared by the queues one publish claimed it for here.
  std::shared_ptr<const v1::QueuedMessage> message;
};

QueueEngine::QueueEngine(core::Store* store, core::EventHub* hub, core::Pool* pool, QueueOptions defaults)
    : store_(store),
      hub_(hub),
      defaults_(defaults),
      owner_(defaults.replica_id.empty() ? core::NewReplicaId() : defaults.replica_id),
      pool_(pool) {}

QueueEngine::~QueueEngine() { Close(); }

void QueueEngine::Start() {
  static const core::WatchFilter kBusEvents{"notification", {"bus_event"}, "", ""};
  follower_ = std::make_unique<core::LogFollower>(
      hub_, kBusEvents, [this](const auto& events, bool behind) { OnLogPass(events, behind); });
  follower_->Start();
  std::lock_guard<std::mutex> lock(mu_);
  ticker_ = std::make_unique<core::Ticker>(pool_, defaults_.poll, [this] { OnTimer(); });
  ticker_->Start();
}

void QueueEngine::Close() {
  std::vector<std::shared_ptr<Consumer>> ending;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [c, a] : attached_) ending.push_back(a->consumer);
  }
  for (auto& c : ending) c->End(absl::UnavailableError("server is shutting down; subscribe again once it is back"));
  // No OnTimer runs after this; ticker_ itself is not touched again (Start
  // made it, and WakeByLocked only runs while not closed_).
  if (ticker_) ticker_->Stop();
  if (follower_) follower_->Stop();
}

void QueueEngine::OnLogPass(const std::vector<std::shared_ptr<const core::EventRecord>>& events, bool behind) {
  // Behind the ring: every queue looks for itself.
  if (behind) return PokeAll();
  std::set<std::string> matched;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    for (const auto& event : events) {
      // The queues this replica's publish claimed its message for already
      // have nothing new to claim.
      absl::string_view uuid = event->resource;
      absl::ConsumePrefix(&uuid, "busEvents/");
      auto direct = direct_by_event_.find(uuid);
      for (const auto& [name, q] : queues_) {
        if (direct != direct_by_event_.end() && direct->second.erase(name) > 0) continue;
        for (const auto& b : q->sub.bindings()) {
          if (TopicMatches(b, event->related)) {
            matched.insert(name);
            break;
          }
        }
      }
      if (direct != direct_by_event_.end()) direct_by_event_.erase(direct);
    }
  }
  for (const auto& q : matched) Poke(q);
}

void QueueEngine::PokeAll() {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, q] : queues_) names.push_back(name);
  }
  for (const auto& n : names) Poke(n);
}

void QueueEngine::Poke(const std::string& queue) {
  int room = 0;
  absl::Duration visibility;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    auto it = queues_.find(queue);
    if (it == queues_.end()) return;
    Queue& q = *it->second;
    if (q.claiming) {
      q.again = true;
      return;
    }
    room = q.Room();
    if (room <= 0) {
      q.drained = false;  // what this poke was for waits for room
      return;
    }
    q.claiming = true;
    q.asked = std::min(room, kClaimBatch);
    q.again = false;
    visibility = absl::Microseconds(ToUs(q.sub.visibility_timeout()));
  }
  store_->jobs().Claim(JobKind(queue), owner_, std::min(room, kClaimBatch), visibility,
                       [this, queue](absl::StatusOr<std::vector<core::Job>> jobs) { OnClaimed(queue, std::move(jobs)); });
}

void QueueEngine::OnClaimed(const std::string& queue, absl::StatusOr<std::vector<core::Job>> jobs) {
  if (!jobs.ok()) {
    log::Warn("bus claim failed; retrying on the next poll", {{"queue", queue}, {"error", jobs.status().ToString()}});
  }
  Sends out;
  std::vector<core::JobLease> unplaced;
  bool again = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queues_.find(queue);
    Queue* q = it == queues_.end() ? nullptr : it->second.get();
    std::vector<core::Job> got = jobs.ok() ? std::move(*jobs) : std::vector<core::Job>();
    std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    for (core::Job& job : got) {
      if (q == nullptr || closed_ || !HandOut(*q, job, nullptr, &out)) unplaced.push_back(job.lease);
    }
    if (q != nullptr) {
      q->claiming = false;
      // A full claim may have left more behind.
      again = q->again || (jobs.ok() && static_cast<int>(got.size()) >= q->asked && unplaced.empty());
      q->drained = jobs.ok() && static_cast<int>(got.size()) < q->asked;
      if (q->consumers.empty()) queues_.erase(it);
    }
  }
  Send(std::move(out));
  for (const auto& lease : unplaced) Release(lease, queue);
  if (again) Poke(queue);
}

bool QueueEngine::HandOut(Queue& q, const core::Job& job, std::shared_ptr<const v1::QueuedMessage> message,
                          Sends* out) {
  Attached* a = nullptr;
  for (size_t i = 0; i < q.consumers.size() && a == nullptr; ++i) {
    Attached* c = q.consumers[(q.next_consumer + i) % q.consumers.size()];
    if (c->Room() > 0) {
      a = c;
      q.next_consumer = (q.next_consumer + i + 1) % q.consumers.size();
    }
  }
  if (a == nullptr) return false;
  std::string id = absl::StrCat(job.id, ".", job.lease.token, ".", owner_);
  if (outstanding_.count(id) > 0) return true;  // handed out already
  if (message == nullptr) {
    auto parsed = std::make_shared<v1::QueuedMessage>();
    if (!parsed->ParseFromString(job.payload)) {
      log::Error("a queued bus message is corrupt; failing its job", {{"queue", q.sub.queue()}, {"job", job.id}});
      store_->jobs().Fail(job.lease, "the stored message is corrupt", [](absl::Status) {});
      return true;
    }
    message = std::move(parsed);
  }
  v1::Delivery d;
  d.set_delivery_id(id);
  d.set_subscription(q.sub.name());
  *d.mutable_envelope() = message->envelope();
  d.set_attempt(job.attempts);
  d.set_softfail_count(message->softfail_count());
  ++a->in_flight;
  lapses_.insert({job.lease.expires_us, id});
  WakeByLocked(job.lease.expires_us);
  out->emplace_back(a->consumer, std::move(d));
  Outstanding o;
  o.lease = job.lease;
  o.queue = q.sub.queue();
  o.holder = a;
  o.message = std::move(message);
  outstanding_.emplace(std::move(id), std::move(o));
  return true;
}

bool QueueEngine::ReserveDirect(const std::string& queue, const std::string& event_uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = queues_.find(queue);
  if (it == queues_.end() || closed_) return false;
  Queue& q = *it->second;
  if (q.reserved.count(event_uuid) > 0) return true;  // the same publish, prepared again
  if (!q.drained || q.claiming || q.Room() <= 0) return false;
  q.reserved.insert(event_uuid);
  if (direct_by_event_.size() >= kMaxDirectRemembered) direct_by_event_.clear();  // events the follower skipped
  direct_by_event_[event_uuid].insert(queue);
  return true;
}

void QueueEngine::OnRouted(const std::vector<std::pair<std::string, size_t>>& direct, const std::string& event_uuid,
                           const std::string& payload, const core::CommitResult* committed) {
  Sends out;
  std::vector<std::pair<core::JobLease, std::string>> unplaced;
  // One message for every queue this publish claimed it for.
  std::shared_ptr<v1::QueuedMessage> message;
  if (committed != nullptr) {
    message = std::make_shared<v1::QueuedMessage>();
    if (!message->ParseFromString(payload)) message.reset();  // each HandOut fails its job
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [queue, index] : direct) {
      auto it = queues_.find(queue);
      if (it != queues_.end()) it->second->reserved.erase(event_uuid);
      if (committed == nullptr) direct_by_event_.erase(event_uuid);
      if (committed == nullptr || index >= committed->jobs.size() || committed->jobs[index].job_id == 0) continue;
      core::Job job;
      job.id = committed->jobs[index].job_id;
      job.kind = JobKind(queue);
      job.attempts = 1;
      job.payload = payload;
      job.lease = committed->jobs[index];
      if (it == queues_.end() || closed_ || !HandOut(*it->second, job, message, &out)) {
        unplaced.emplace_back(job.lease, queue);
      }
    }
  }
  Send(std::move(out));
  for (const auto& [lease, queue] : unplaced) Release(lease, queue);
}

void QueueEngine::Release(const core::JobLease& lease, const std::string& queue) {
  store_->jobs().RetryAt(lease, absl::InfinitePast(), "the subscriber's stream ended before answering",
                         [this, queue](absl::Status) { Poke(queue); });
}

void QueueEngine::Send(Sends out) {
  for (auto& [consumer, delivery] : out) consumer->Deliver(std::move(delivery));
}

void QueueEngine::WakeByLocked(int64_t due_us) {
  if (closed_ || ticker_ == nullptr || due_us >= next_poll_us_) return;  // the poll's run comes first
  ticker_->RunBy(absl::Microseconds(due_us - NowUs()));
}

void QueueEngine::OnTimer() {
  std::vector<std::string> due;
  std::vector<std::string> attached;
  bool poll = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    const int64_t now = NowUs();
    if (now >= next_poll_us_) {
      next_poll_us_ = now + absl::ToInt64Microseconds(defaults_.poll);
      poll = true;
    }
    // Leases that lapsed here: their streams have room again, and the next
    // claim takes the message back.
    while (!lapses_.empty() && lapses_.begin()->first <= now) {
      auto it = outstanding_.find(lapses_.begin()->second);
      if (it != outstanding_.end() && it->second.lease.expires_us == lapses_.begin()->first) {
        if (it->second.holder != nullptr) --it->second.holder->in_flight;
        due.push_back(it->second.queue);
        outstanding_.erase(it);
      }
      lapses_.erase(lapses_.begin());
    }
    while (!timers_.empty() && timers_.begin()->first <= now) {
      due.push_back(timers_.begin()->second);
      timers_.erase(timers_.begin());
    }
    // The next run: the poll's (the ticker's period), or sooner.
    if (!timers_.empty()) WakeByLocked(timers_.begin()->first);
    if (!lapses_.empty()) WakeByLocked(lapses_.begin()->first);
    if (poll) {
      for (const auto& [name, q] : queues_) attached.push_back(name);
    }
  }
  if (poll) {
    RefreshWants();
    // A subscription deleted on another replica ends its streams here.
    for (const auto& name : attached) {
      auto sub = ReadSubscription(name);
      if (sub.ok() && !sub->has_value()) EndLocal(name, absl::NotFoundError("the subscription was deleted"));
    }
    PokeAll();
    return;
  }
  std::sort(due.begin(), due.end());
  due.erase(std::unique(due.begin(), due.end()), due.end());
  for (const auto& q : due) Poke(q);
}

absl::Status QueueEngine::Attach(absl::string_view subscription, int max_in_flight,
                                 std::shared_ptr<Consumer> consumer) {
  ASSIGN_OR_RETURN(std::string queue, QueueOf("subscription", subscription));
  if (max_in_flight < 0 || max_in_flight > 10000) {
    return absl::InvalidArgumentError("max_in_flight must be between 1 and 10000 (0 means 16)");
  }
  ASSIGN_OR_RETURN(auto sub, ReadSubscription(queue));
  if (!sub.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "subscriptions/", queue, " does not exist; create it with CreateSubscription (sbctl bus subscribe --bind)"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return absl::UnavailableError("server is shutting down");
    auto& q = queues_[queue];
    if (q == nullptr) {
      q = std::make_unique<Queue>();
      q->sub = std::move(*sub);
    }
    auto a = std::make_unique<Attached>();
    a->consumer = std::move(consumer);
    a->queue = queue;
    a->max_in_flight = max_in_flight == 0 ? 16 : max_in_flight;
    q->consumers.push_back(a.get());
    attached_[a->consumer.get()] = std::move(a);
  }
  Poke(queue);
  return absl::OkStatus();
}

void QueueEngine::Quiesce(Consumer* consumer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = attached_.find(consumer);
  if (it != attached_.end()) it->second->ending = true;
}

void QueueEngine::Detach(Consumer* consumer) {
  std::shared_ptr<Consumer> keep;  // released after the lock
  std::vector<core::JobLease> held;
  std::string queue;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attached_.find(consumer);
    if (it == attached_.end()) return;
    Attached* a = it->second.get();
    keep = a->consumer;
    queue = a->queue;
    for (auto o = outstanding_.begin(); o != outstanding_.end();) {
      if (o->second.holder == a) {
        held.push_back(o->second.lease);
        o = outstanding_.erase(o);
      } else {
        ++o;
      }
    }
    auto qit = queues_.find(queue);
    if (qit != queues_.end()) {
      auto& cs = qit->second->consumers;
      cs.erase(std::remove(cs.begin(), cs.end(), a), cs.end());
      if (cs.empty() && !qit->second->claiming) queues_.erase(qit);
    }
    attached_.erase(it);
  }
  for (const auto& lease : held) Release(lease, queue);
  if (held.empty()) Poke(queue);
}

void QueueEngine::EndLocal(const std::string& queue, absl::Status why) {
  std::vector<std::shared_ptr<Consumer>> ending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto qit = queues_.find(queue);
    if (qit == queues_.end()) return;
    for (Attached* a : qit->second->consumers) ending.push_back(a->consumer);
  }
  // Each stream's end detaches it (SubscribeStream::OnDone).
  for (auto& c : ending) c->End(why);
}

absl::StatusOr<core::JobLease> QueueEngine::ParseDelivery(absl::string_view subscription,
                                                          absl::string_view delivery_id, std::string* queue) const {
  ASSIGN_OR_RETURN(*queue, QueueOf("subscription", subscription));
  std::vector<absl::string_view> parts = absl::StrSplit(delivery_id, absl::MaxSplits('.', 2));
  core::JobLease lease;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &lease.job_id) || !absl::SimpleAtoi(parts[1], &lease.token) ||
      parts[2].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("delivery_id '", Echo(delivery_id), "' is not one this server issued; pass Delivery.delivery_id"));
  }
  lease.owner = std::string(parts[2]);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = outstanding_.find(std::string(delivery_id));
  if (it != outstanding_.end() && it->second.queue != *queue) {
    return absl::InvalidArgumentError(absl::StrCat("delivery ", Echo(delivery_id), " belongs to subscriptions/",
                                                   it->second.queue, ", not ", Echo(subscription)));
  }
  return lease;
}

namespace {
absl::Status NotOutstanding(absl::Status s, absl::string_view delivery_id) {
  if (absl::IsFailedPrecondition(s) || absl::IsNotFound(s)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "delivery ", Echo(delivery_id),
        " is no longer outstanding: it was already answered, or its visibility timeout passed and it was "
        "delivered again; answer the newer delivery"));
  }
  return s;
}
}  // namespace

void QueueEngine::Answered(const std::string& delivery_id) {
  std::string queue;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = outstanding_.find(delivery_id);
    if (it == outstanding_.end()) return;
    if (it->second.holder != nullptr) --it->second.holder->in_flight;
    queue = it->second.queue;
    outstanding_.erase(it);
    // A drained queue has nothing ready to claim into the room this answer
    // made; the log follower, the timers and the poll claim what comes.
    auto qit = queues_.find(queue);
    if (qit != queues_.end() && qit->second->drained) return;
  }
  Poke(queue);
}

void QueueEngine::Ack(const v1::AckRequest& request, std::function<void(absl::StatusOr<v1::AckResponse>)> done) {
  if (request.delivery_ids().empty()) {
    std::string queue;
    auto lease = ParseDelivery(request.subscription(), request.delivery_id(), &queue);
    if (!lease.ok()) return done(lease.status());
    store_->jobs().Complete(*lease, [this, id = request.delivery_id(), done = std::move(done)](absl::Status s) {
      if (!s.ok()) return done(NotOutstanding(s, id));
      Answered(id);
      done(v1::AckResponse());
    });
    return;
  }
  AckMany(request, std::move(done));
}

void QueueEngine::AckMany(const v1::AckRequest& request,
                          std::function<void(absl::StatusOr<v1::AckResponse>)> done) {
  const int total = request.delivery_ids_size() + (request.delivery_id().empty() ? 0 : 1);
  if (total > kMaxAckIds) {
    return done(absl::InvalidArgumentError(absl::StrCat("delivery_ids holds ", total, " deliveries with delivery_id; ",
                                                        "send at most ", kMaxAckIds, " per Ack")));
  }
  // Every id is checked before any is acked.
  std::vector<std::pair<std::string, core::JobLease>> acks;
  std::set<absl::string_view> seen;
  std::string queue;
  for (int i = -1; i < request.delivery_ids_size(); ++i) {
    const std::string& id = i < 0 ? request.delivery_id() : request.delivery_ids(i);
    if (i < 0 && id.empty()) continue;
    if (!seen.insert(id).second) continue;  // the same delivery twice: acked once
    auto lease = ParseDelivery(request.subscription(), id, &queue);
    if (!lease.ok()) {
      if (!absl::IsInvalidArgument(lease.status()) || i < 0) return done(lease.status());
      return done(absl::InvalidArgumentError(absl::StrCat("delivery_ids[", i, "]: ", lease.status().message())));
    }
    acks.emplace_back(id, *lease);
  }
  struct Batch {
    std::mutex mu;
    size_t left;
    v1::AckResponse response;
    absl::Status error;
    std::function<void(absl::StatusOr<v1::AckResponse>)> done;
  };
  auto batch = std::make_shared<Batch>();
  batch->left = acks.size();
  batch->done = std::move(done);
  for (auto& [id, lease] : acks) {
    store_->jobs().Complete(lease, [this, batch, id = id](absl::Status s) {
      if (s.ok()) Answered(id);
      const bool stale = absl::IsFailedPrecondition(s) || absl::IsNotFound(s);
      {
        std::lock_guard<std::mutex> lock(batch->mu);
        if (stale) batch->response.add_not_outstanding(id);
        if (!s.ok() && !stale && batch->error.ok()) batch->error = s;
        if (--batch->left > 0) return;
      }
      if (!batch->error.ok()) return batch->done(batch->error);
      batch->done(std::move(batch->response));
    });
  }
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
  auto lease = ParseDelivery(request.subscription(), request.delivery_id(), &queue);
  if (!lease.ok()) return done(lease.status());
  // The message and its subscription: here if the delivery was made here,
  // else from the store (a Nack sent to another replica than the stream's).
  v1::QueuedMessage updated;
  std::optional<v1::Subscription> sub;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = outstanding_.find(request.delivery_id());
    if (it != outstanding_.end()) {
      updated = *it->second.message;
      auto qit = queues_.find(queue);
      if (qit != queues_.end()) sub = qit->second->sub;
    }
  }
  if (!sub.has_value()) {
    auto job = store_->jobs().GetJob(lease->job_id);
    if (!job.ok()) return done(job.status());
    if (!job->has_value() || (*job)->kind != JobKind(queue) || (*job)->lease.token != lease->token ||
        (*job)->state != core::JobState::kRunning) {
      return done(NotOutstanding(absl::FailedPreconditionError("lease lost"), request.delivery_id()));
    }
    if (!updated.ParseFromString((*job)->payload)) return done(absl::DataLossError("the stored message is corrupt"));
    auto read = ReadSubscription(queue);
    if (!read.ok()) return done(read.status());
    if (!read->has_value()) return done(absl::NotFoundError(absl::StrCat("subscriptions/", queue, " does not exist")));
    sub = std::move(**read);
  }

  const int64_t now = NowUs();
  v1::BusEnvelope* env = updated.mutable_envelope();
  v1::BusError* err = env->add_errors();
  err->set_error_type(request.error_type());
  err->set_error_uuid(NewUuid());
  err->set_error_sender(sub->app_id());
  err->set_error_message(request.error_message());
  *err->mutable_timestamp() = TimeUtil::MicrosecondsToTimestamp(now);
  *err->mutable_error_debug() = request.error_debug();
  err->set_error_code(request.error_code());
  env->set_errors_count(env->errors_count() + 1);
  const bool hard = request.error_type() == v1::BusError::HARDERROR;
  if (!hard) updated.set_softfail_count(updated.softfail_count() + 1);
  const bool dead = hard || updated.softfail_count() >= sub->max_attempts();
  const int64_t seq = updated.sequence();

  core::Mutation m;
  v1::NackResponse resp;
  if (dead) {
    resp.set_dead_lettered(true);
    v1::DeadLetter dl;
    dl.set_name(DeadLetterName(queue, seq));
    dl.set_subscription(sub->name());
    *dl.mutable_envelope() = updated.envelope();
    dl.set_reason(hard ? absl::StrCat("harderror: ", request.error_message())
                       : absl::StrCat("max attempts reached (", sub->max_attempts(), " soft errors)"));
    *dl.mutable_dead_letter_time() = TimeUtil::MicrosecondsToTimestamp(now);
    m.jobs.push_back(core::JobWrite::Fail(*lease, dl.reason()));
    m.writes.push_back({kDeadLetterKind, dl.name(), dl.SerializeAsString(), false});
    v1::NotificationEvent event;
    *event.mutable_dead_letter() = dl;
    m.events.push_back({"notification", kDeadLetterKind, dl.name(), sub->name(), event.SerializeAsString()});
  } else {
    const int64_t visible = now + ToUs(sub->retry_delay());
    *updated.mutable_visible_time() = TimeUtil::MicrosecondsToTimestamp(visible);
    *resp.mutable_redeliver_time() = updated.visible_time();
    // The grown errors[] and soft-failure count go with the job, then it
    // waits out the retry delay.
    m.jobs.push_back(
        core::JobWrite::Checkpoint(*lease, updated.SerializeAsString(), absl::Microseconds(ToUs(sub->visibility_timeout()))));
    m.jobs.push_back(core::JobWrite::RetryAt(*lease, absl::FromUnixMicros(visible), request.error_message()));
    std::lock_guard<std::mutex> lock(mu_);
    timers_.insert({visible, queue});
    WakeByLocked(visible);
  }
  store_->CommitAsync(std::move(m), [this, id = request.delivery_id(), resp, done = std::move(done)](auto r) {
    if (!r.ok()) return done(NotOutstanding(r.status(), id));
    Answered(id);
    done(resp);
  });
}

QueueEngine::Totals QueueEngine::totals() const {
  Totals t;
  if (auto counts = store_->jobs().CountByState(kMessageJobPrefix, /*prefix=*/true); counts.ok()) {
    t.ready = counts->ready;
    t.in_flight = counts->running;
  }
  std::lock_guard<std::mutex> lock(mu_);
  t.consumers = static_cast<int64_t>(attached_.size());
  return t;
}

}  // namespace switchboard::notification
