#pragma once
// Webhook subscriptions and durable delivery with retries (the policy of
// seed 002 applied outward, webhook_attempt.h), free of gRPC.
//
// A published bus event that matches a webhook's bindings gets, in the same
// transaction as the publish, a delivery record and a job (kind
// webhook.delivery, keyed by the delivery's name, run_at the publish time,
// the payload the envelope's Gorg JSON, rendered once per event). This
// engine claims due delivery jobs in batches (core::JobWorker) into
// per-webhook queues; `workers` threads POST them, at most
// `per_webhook_in_flight` at once to one webhook, webhooks taking turns.
// Each outcome is recorded with its job's completion (2xx), retry_at
// (backoff; Retry-After wins) or failure (dead letter), many outcomes per
// mutation (webhook_outcomes.h), and a worker never waits for that commit.
// Pending deliveries therefore survive a restart or kill -9 as jobs and
// keep their schedule; a crash between an attempt and its record repeats
// the attempt (at-least-once).
//
// Claims stop while `claim_window` deliveries wait here, but one webhook's
// waiting deliveries count for at most a quarter of it: a slow receiver's
// pile does not stop the claims that bring the others' deliveries. Claimed
// deliveries are held here up to 8 times the window; a webhook that keeps
// more than that waiting holds the others up until it works through it
// (issue 22 gives each webhook a lease of its own).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/job_worker.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "server/notification/bus_route.h"
#include "server/notification/webhook_attempt.h"
#include "server/notification/webhook_outcomes.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::notification {

// The resource kind of delivery records.
inline constexpr char kDeliveryKind[] = "delivery";
// The job kind of a delivery (server/core/job_queue.h).
inline constexpr char kDeliveryJobKind[] = "webhook.delivery";

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
  // The owner of the job leases taken here: this replica's id, one per
  // process start (empty: core::NewReplicaId()).
  std::string replica_id;
  // How long a claimed delivery's lease lasts without a heartbeat.
  absl::Duration job_lease = absl::Seconds(60);
  // Claimed deliveries waiting here for a worker before claims stop, one
  // webhook's counting for at most a quarter; 8 times as many at most.
  int claim_window = 1024;
  // Deliveries one claim asks for, at most.
  int claim_batch = 256;
};

class WebhookEngine final : public BusRoute {
 public:
  WebhookEngine(core::Store* store, WebhookOptions options);
  ~WebhookEngine();

  // Reads the webhooks back, gives the pending deliveries of a data dir
  // from before jobs their jobs (webhook_migration.h), then starts the
  // workers and claims what is due.
  absl::Status Load();
  // Stops claiming and attempting (an attempt under way finishes), and
  // waits until every outcome is recorded. Deliveries claimed but not
  // attempted stay with their jobs: the next start (or, once their lease
  // expires, another claim) runs them.
  void Close();

  // A repeat of an earlier request_id gets the first answer, marked replayed.
  using WebhookDone = std::function<void(core::Reply<v1::WebhookSubscription>)>;
  void Create(const v1::CreateWebhookSubscriptionRequest& request, WebhookDone done);
  void Delete(const v1::DeleteWebhookSubscriptionRequest& request, WebhookDone done);
  absl::StatusOr<v1::WebhookSubscription> Get(absl::string_view name) const;
  absl::StatusOr<v1::ListWebhookSubscriptionsResponse> List(const v1::ListWebhookSubscriptionsRequest& request) const;
  absl::StatusOr<v1::ListDeliveriesResponse> ListDeliveries(const v1::ListDeliveriesRequest& request) const;

  absl::StatusOr<int> Route(const v1::BusEvent& event, core::TxnReader& txn, core::Mutation& m,
                            AfterCommit* after_commit) override;
  bool Wants(const std::string& routing_key) const override;

  // Deliveries not delivered or dead-lettered yet (their jobs unfinished).
  int64_t pending() const;

 private:
  using Hook = std::shared_ptr<const v1::WebhookSubscription>;
  // The deliveries of one webhook claimed here.
  struct HookQueue {
    std::deque<core::Job> waiting;
    int in_flight = 0;
  };
  // A job handed to a worker, with its webhook.
  struct Picked {
    core::Job job;
    Hook hook;
  };

  // A job claimed by jobs_ (on the store's completion thread).
  void OnClaimed(core::Job job);
  // Claimed jobs whose webhook was not in hooks_: queued if the store has
  // it, finished as deleted if not (on a worker thread).
  void LookUp(std::vector<core::Job> jobs);
  // How many more jobs the claim window has room for.
  int Room();
  int RoomLocked() const;
  void WorkerLoop();
  // The next job whose webhook has room for an attempt, webhooks in turn;
  // jobs of deleted webhooks go to `orphans`. Call with mu_ held.
  bool PickLocked(Picked* out, std::vector<core::Job>* orphans);
  // Makes one attempt of a picked job and returns its outcome; the
  // webhook's slot is given back as soon as the answer is in.
  Outcome Attempt(const Picked& picked);
  void ReleaseSlot(const std::string& webhook);
  // What to write for a job that ends without an attempt.
  static Outcome Finish(const core::Job& job, bool failed, std::string why);
  // An outcome's mutation committed or failed.
  void OnRecorded(const Outcome& o, const absl::Status& status);

  core::Store* store_;
  const WebhookOptions options_;
  const RetryPolicy policy_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Hook> hooks_;  // by name, secret included
  // Routing (on the store's writer thread): hooks_ as of this version of
  // the routes (unset: never loaded), store.h's TxnReader::RoutesVersion.
  std::optional<uint64_t> routes_version_;
  // Claimed jobs of webhooks not in hooks_: made on another replica since
  // this one loaded, or deleted. A worker looks them up in the store.
  std::vector<core::Job> unknown_;
  std::map<std::string, HookQueue> queues_;
  // Webhooks with waiting deliveries, each once, in turn.
  std::deque<std::string> turns_;
  // Claimed and waiting; of those, what counts against claim_window
  // (each webhook's up to share_); attempts under way.
  int waiting_ = 0;
  int counted_ = 0;
  int attempting_ = 0;
  const int share_;
  const int max_held_;
  // When a retry written here comes due: a worker claims then.
  std::set<int64_t> wakes_;
  bool closed_ = false;
  std::vector<std::thread> workers_;
  std::atomic<int64_t> pending_{0};

  std::unique_ptr<OutcomeWriter> outcomes_;
  std::unique_ptr<core::JobWorker> jobs_;
};

}  // namespace switchboard::notification
