#pragma once
// Webhook subscriptions and durable delivery with retries (the policy of
// seed 002 applied outward), free of gRPC.
//
// A published bus event that matches a webhook's bindings gets a delivery
// record in the same transaction as the publish. Worker threads POST the
// envelope (Gorg JSON, signed: see common/webhook_signature.h) and record each
// attempt: 2xx delivers; >=500, 429, timeouts and unreachable hosts retry
// with exponential backoff and jitter (Retry-After wins when sent) until the
// webhook's time limit, then dead-letter; any other answer dead-letters at
// once. Pending deliveries survive a restart and keep their schedule.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
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

inline constexpr char kDeliveryKind[] = "delivery";

struct WebhookOptions {
  // Threads making HTTP attempts; also the most attempts at once.
  int workers = 8;
  // Most attempts at once to one webhook, so one slow receiver cannot
  // hold every worker.
  int per_webhook_in_flight = 2;
  // Backoff before retry n is about retry_base * 2^(n-1), capped.
  absl::Duration retry_base = absl::Seconds(1);
  absl::Duration retry_max = absl::Minutes(10);
  // PEM CA file https:// receivers are verified against; empty: the
  // system's CAs.
  std::string ca_file;
};

class WebhookEngine final : public BusRoute {
 public:
  WebhookEngine(core::Store* store, WebhookOptions options);
  ~WebhookEngine();

  // Reads webhooks and unfinished deliveries back, then starts the workers.
  absl::Status Load();
  void Close();

  // A repeat of an earlier request_id gets the first answer, marked replayed.
  using WebhookDone = std::function<void(core::Reply<v1::WebhookSubscription>)>;
  void Create(const v1::CreateWebhookSubscriptionRequest& request, WebhookDone done);
  void Delete(const v1::DeleteWebhookSubscriptionRequest& request, WebhookDone done);
  absl::StatusOr<v1::WebhookSubscription> Get(absl::string_view name) const;
  absl::StatusOr<v1::ListWebhookSubscriptionsResponse> List(const v1::ListWebhookSubscriptionsRequest& request) const;
  absl::StatusOr<v1::ListDeliveriesResponse> ListDeliveries(const v1::ListDeliveriesRequest& request) const;

  int Route(const v1::BusEvent& event, core::Mutation& m, AfterCommit* after_commit) override;
  bool Wants(const std::string& routing_key) const override;

  int64_t pending() const;

 private:
  struct Due {
    int64_t due_us;
    std::string delivery;
    bool operator<(const Due& o) const { return due_us != o.due_us ? due_us < o.due_us : delivery < o.delivery; }
  };

  void WorkerLoop();
  // One HTTP attempt and its durable record.
  void Attempt(const std::string& delivery_name, const v1::WebhookSubscription& hook);
  absl::Duration Backoff(int attempts) const;

  core::Store* store_;
  const WebhookOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, v1::WebhookSubscription> hooks_;  // by name, secret included
  std::set<Due> due_;
  std::map<std::string, int> in_flight_;  // per webhook
  // Attempt records handed to the store and not yet durable (Close waits).
  int records_in_flight_ = 0;
  std::condition_variable records_done_;
  bool closed_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace switchboard::notification
