#pragma once
// Durable bus subscriptions (named queues with topic bindings), at-least-once
// delivery to Subscribe streams, Ack/Nack in the Gorg convention, and dead
// letters. Free of gRPC: a stream is a Consumer.
//
// What is durable and what is not:
//  * subscriptions, queued messages (with their errors[], softfail count and
//    retry time) and dead letters live in the store; a message is on the
//    queue from the moment its Publish is durable;
//  * leases (which stream holds which delivery, until when) live in memory
//    only. A restart, a dropped stream or an expired visibility timeout all
//    put the message back on the queue, which is what at-least-once asks.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "server/notification/bus_route.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::notification {

struct QueueOptions {
  absl::Duration visibility_timeout = absl::Seconds(60);
  absl::Duration retry_delay = absl::Minutes(30);
  int max_attempts = 48;
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
  QueueEngine(core::Store* store, QueueOptions defaults);
  ~QueueEngine();

  // Reads subscriptions and queued messages back after a restart, then
  // starts the timer thread.
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

  // Inside a Publish transaction: queues `event` on every matching
  // subscription (adding the writes to `m`) and returns how many. The
  // in-memory queues take the messages in `after_commit`.
  int Route(const v1::BusEvent& event, core::Mutation& m, AfterCommit* after_commit) override;
  bool Wants(const std::string& routing_key) const override;

  // Starts delivering `subscription` to `consumer`, at most `max_in_flight`
  // unanswered at once.
  absl::Status Attach(absl::string_view subscription, int max_in_flight, std::shared_ptr<Consumer> consumer);
  // The stream ended: its unanswered deliveries go back on the queue now.
  void Detach(Consumer* consumer);

  void Ack(const v1::AckRequest& request, std::function<void(absl::StatusOr<v1::AckResponse>)> done);
  void Nack(const v1::NackRequest& request, std::function<void(absl::StatusOr<v1::NackResponse>)> done);

  absl::StatusOr<v1::ListDeadLettersResponse> ListDeadLetters(const v1::ListDeadLettersRequest& request) const;
  absl::StatusOr<v1::DeadLetter> GetDeadLetter(absl::string_view name) const;
  void ReplayDeadLetter(const v1::ReplayDeadLetterRequest& request,
                        std::function<void(core::Reply<v1::DeadLetter>)> done);
  void PurgeDeadLetters(const v1::PurgeDeadLettersRequest& request,
                        std::function<void(core::Reply<v1::PurgeDeadLettersResponse>)> done);

  struct Totals {
    int64_t ready = 0, in_flight = 0, consumers = 0;
  };
  Totals totals() const;

 private:
  struct Queue;
  struct Message;
  struct Attached;

  void Dispatch(Queue& q, std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>>* out);  // mu_ held
  void MakeReady(Queue& q, Message& msg, int64_t visible_us);  // mu_ held
  void ReleaseLease(Queue& q, Message& msg);  // mu_ held
  void Send(std::vector<std::pair<std::shared_ptr<Consumer>, v1::Delivery>> out);
  void TimerLoop();
  v1::Subscription Snapshot(const Queue& q) const;  // mu_ held
  // Finds a leased message by delivery id; FAILED_PRECONDITION if the lease
  // is gone.
  absl::StatusOr<std::pair<Queue*, Message*>> FindLease(absl::string_view subscription,
                                                        absl::string_view delivery_id);  // mu_ held
  // After a settle commit: forget the message, or put it back.
  void Settled(const std::string& queue, int64_t seq, bool ok, std::optional<v1::QueuedMessage> requeue);

  core::Store* store_;
  const QueueOptions defaults_;

  // std::mutex, not absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, which would not see an absl::Mutex at all
  // (docs/reliability.md, "Sanitizers"). The fields below are guarded by it.
  mutable std::mutex mu_;
  std::condition_variable closed_cv_;  // TimerLoop's wait; Close() wakes it
  std::map<std::string, std::unique_ptr<Queue>, std::less<>> queues_;
  // Wake-ups: (due time, queue, sequence); stale entries are skipped.
  std::set<std::tuple<int64_t, std::string, int64_t>> timers_;
  std::map<Consumer*, std::unique_ptr<Attached>> attached_;
  int64_t lease_counter_ = 0;
  bool closed_ = false;
  std::thread timer_;
};

}  // namespace switchboard::notification
