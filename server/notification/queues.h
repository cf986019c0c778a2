#pragma once
// Durable bus subscriptions (named queues with topic bindings), at-least-once
// delivery to Subscribe streams, Ack/Nack in the Gorg convention, and dead
// letters. Free of gRPC: a stream is a Consumer.
//
// Every queued message is a job (server/core/job.h) of kind
// "bus.message:<queue>", keyed by the event's sequence, its payload a
// v1::QueuedMessage (envelope, errors, soft failures). The store is the only
// truth, so any replica serves any subscription:
//  * Publish enqueues one job per matching subscription in its own
//    transaction (Route; the subscriptions are reloaded there whenever
//    TxnReader::RoutesVersion() moved, so one created on another replica a
//    moment ago is not missed);
//  * a replica with Subscribe streams attached claims jobs for them, as many
//    as they have room for. A claim is the delivery's visibility lease (the
//    subscription's visibility_timeout); the delivery id carries the job,
//    its fencing token and the lease's owner, so Ack (complete), Nack
//    (retry_at, or fail with a dead letter) and a lapsed lease work on
//    any replica, and an answer to a delivery that was given to someone
//    else since is refused;
//  * claims are triggered by the log (every replica's EventHub sees every
//    bus event, NOTIFY or poll on PostgreSQL), by answers, by the leases
//    and retries timed here, and by a poll every second for those timed on
//    other replicas.
// A restart, a dropped stream or an expired visibility timeout puts a
// message back on its queue, which is what at-least-once asks.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/event_hub.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "server/notification/bus_route.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::core {
class LogFollower;
class Pool;
class Ticker;
}  // namespace switchboard::core

namespace switchboard::notification {

struct QueueOptions {
  absl::Duration visibility_timeout = absl::Seconds(60);
  absl::Duration retry_delay = absl::Minutes(30);
  int max_attempts = 48;
  // The owner of the delivery leases taken here: this replica's id (empty:
  // core::NewReplicaId()).
  std::string replica_id;
  // How often subscriptions with streams here look for messages that came
  // due on another replica's timers (a Nack's retry, a lapsed lease).
  absl::Duration poll = absl::Seconds(1);
};

// One Subscribe stream. Deliver is called with no engine lock held, but may
// be called after the stream ended (it must then drop the delivery: the
// engine has already put it back on the queue).
class Consumer {
 public:
  virtual ~Consumer() = default;
  virtual void Deliver(v1::Delivery delivery) = 0;
  // The subscription was deleted or the server is closing.
  virtual void End(absl::Status status) = 0;
};

class QueueEngine final : public BusRoute {
 public:
  // `pool` runs the engine's timers (leases lapsing here, retry times, the
  // poll): the Server's "core" pool.
  QueueEngine(core::Store* store, core::EventHub* hub, core::Pool* pool, QueueOptions defaults);
  ~QueueEngine();

  // Moves messages queued by a data dir from before jobs into jobs, reads
  // the subscriptions, and starts following the log.
  absl::Status Load();
  // Ends every stream; later calls fail UNAVAILABLE.
  void Close();

  // Mutating calls answer through a core::Reply: a repeat of an earlier
  // request_id gets the first answer, marked replayed.
  using SubscriptionDone = std::function<void(core::Reply<v1::Subscription>)>;
  void CreateSubscription(const v1::CreateSubscriptionRequest& request, SubscriptionDone done);
  void DeleteSubscription(const v1::DeleteSubscriptionRequest& request, SubscriptionDone done);
  absl::StatusOr<v1::Subscription> GetSubscription(absl::string_view name) const;
  absl::StatusOr<v1::ListSubscriptionsResponse> ListSubscriptions(const v1::ListSubscriptionsRequest& request) const;

  // Inside a Publish transaction: enqueues `event` on every matching
  // subscription (adding job writes to `m`) and returns how many.
  absl::StatusOr<int> Route(const v1::BusEvent& event, core::TxnReader& txn, core::Mutation& m,
                            AfterCommit* after_commit) override;
  bool Wants(const std::string& routing_key) const override;

  // Starts delivering `subscription` to `consumer`, at most `max_in_flight`
  // unanswered at once.
  absl::Status Attach(absl::string_view subscription, int max_in_flight, std::shared_ptr<Consumer> consumer);
  // The stream ended: its unanswered deliveries go back on the queue now.
  void Detach(Consumer* consumer);
  // The stream is ending (cancelled, or its client went away): nothing more
  // is handed to it, and its room no longer counts, from now on rather than
  // from its Detach, which follows once gRPC is done with it (the messages
  // it holds go back then).
  void Quiesce(Consumer* consumer);

  // delivery_id alone: FAILED_PRECONDITION if it is no longer outstanding.
  // delivery_ids: each acked on its own; the stale ones are listed in
  // AckResponse.not_outstanding.
  void Ack(const v1::AckRequest& request, std::function<void(absl::StatusOr<v1::AckResponse>)> done);
  void Nack(const v1::NackRequest& request, std::function<void(absl::StatusOr<v1::NackResponse>)> done);

  absl::StatusOr<v1::ListDeadLettersResponse> ListDeadLetters(const v1::ListDeadLettersRequest& request) const;
  absl::StatusOr<v1::DeadLetter> GetDeadLetter(absl::string_view name) const;
  void ReplayDeadLetter(const v1::ReplayDeadLetterRequest& request,
                        std::function<void(core::Reply<v1::DeadLetter>)> done);
  void PurgeDeadLetters(const v1::PurgeDeadLettersRequest& request,
                        std::function<void(core::Reply<v1::PurgeDeadLettersResponse>)> done);

  // Across every subscription (ready and in flight, from the store's jobs)
  // and the streams attached here.
  struct Totals {
    int64_t ready = 0, in_flight = 0, consumers = 0;
  };
  Totals totals() const;

 private:
  struct Queue;
  struct Attached;
  struct Outstanding;
  using Sends = std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>>;

  // The subscription as stored, with its counts filled in.
  absl::StatusOr<v1::Subscription> Snapshot(v1::Subscription sub) const;
  absl::StatusOr<std::optional<v1::Subscription>> ReadSubscription(const std::string& queue) const;
  // The subscriptions as committed, for Wants (refreshed by the poll).
  void RefreshWants();

  // Claims for `queue`'s streams here, if they have room (one claim at a
  // time per queue; a poke during one claims again after it).
  void Poke(const std::string& queue);
  void PokeAll();
  void OnClaimed(const std::string& queue, absl::StatusOr<std::vector<core::Job>> jobs);
  // Hands a claimed job to a stream of `q` with room (mu_ held); false if
  // none has room (the caller puts it back). `message` is the job's payload
  // parsed already, or null to parse it here.
  bool HandOut(Queue& q, const core::Job& job, std::shared_ptr<const v1::QueuedMessage> message, Sends* out);
  // Inside Route: whether this publish may enqueue its message on `queue`
  // claimed for a stream here at once (a stream has room, nothing older is
  // waiting), reserving that room for `event_uuid`.
  bool ReserveDirect(const std::string& queue, const std::string& event_uuid);
  // After the publish: hands out the messages Route enqueued claimed
  // (`direct`: queue and index in the mutation's jobs).
  void OnRouted(const std::vector<std::pair<std::string, size_t>>& direct, const std::string& event_uuid,
                const std::string& payload, const core::CommitResult* committed);
  // The log moved (core::LogFollower): claims for the queues its new bus
  // events match, or for every queue when the follower fell behind.
  void OnLogPass(const std::vector<std::shared_ptr<const core::EventRecord>>& events, bool behind);
  // What came due: lapsed leases, retry times, the poll.
  void OnTimer();
  // OnTimer runs by `due_us` (mu_ held).
  void WakeByLocked(int64_t due_us);
  // Puts a delivery back on its queue at once (its stream went away).
  void Release(const core::JobLease& lease, const std::string& queue);
  // Ack with delivery_ids: every id checked first, then each completed.
  void AckMany(const v1::AckRequest& request, std::function<void(absl::StatusOr<v1::AckResponse>)> done);
  // The delivery `delivery_id` names, checked against `subscription`.
  absl::StatusOr<core::JobLease> ParseDelivery(absl::string_view subscription, absl::string_view delivery_id,
                                               std::string* queue) const;
  // Forgets a local delivery once answered; its stream has room again.
  void Answered(const std::string& delivery_id);
  void Send(Sends out);
  // Ends the streams attached here to `queue` (deleted) and forgets its
  // deliveries.
  void EndLocal(const std::string& queue, absl::Status why);
  // Starts following the log and the timer thread (Load's last step).
  void Start();
  // Load's first step: messages of a data dir from before jobs become jobs.
  absl::Status MoveLegacyMessages();

  core::Store* store_;
  core::EventHub* hub_;
  const QueueOptions defaults_;
  const std::string owner_;

  // std::mutex, not absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, which would not see an absl::Mutex at all
  // (docs/reliability.md, "Sanitizers"). The fields below are guarded by it.
  mutable std::mutex mu_;
  // Subscriptions with streams attached here.
  std::map<std::string, std::unique_ptr<Queue>, std::less<>> queues_;
  std::map<Consumer*, std::unique_ptr<Attached>> attached_;
  // Deliveries made here and not answered yet, by delivery id.
  std::map<std::string, Outstanding> outstanding_;
  // When to claim again: (due time, queue).
  std::set<std::pair<int64_t, std::string>> timers_;
  // When the leases of outstanding_ lapse: (expiry, delivery id).
  std::set<std::pair<int64_t, std::string>> lapses_;
  int64_t next_poll_us_ = 0;
  bool closed_ = false;
  // Runs OnTimer every `poll`, and sooner when a lease or a retry time
  // comes due before that (WakeBy).
  core::Pool* pool_;
  std::unique_ptr<core::Ticker> ticker_;

  // By event uuid, the queues whose message the publish claimed here at once
  // (Route); the log follower skips them for that event. Guarded by mu_.
  std::map<std::string, std::set<std::string>, std::less<>> direct_by_event_;
  // Follows the log's bus events (Start to Close).
  std::unique_ptr<core::LogFollower> follower_;
  std::shared_ptr<core::EventHub::Listener> listener_;

  // Routing, on the store's writer thread only: the subscriptions as of
  // routes_version_ (unset: never loaded).
  std::vector<v1::Subscription> routes_;
  std::optional<uint64_t> routes_version_;
  // For Wants, from any thread.
  mutable std::mutex wants_mu_;
  std::vector<v1::Subscription> wants_;
};

}  // namespace switchboard::notification
