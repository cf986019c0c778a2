#pragma once
// Webhook subscriptions and durable delivery with retries (the policy of
// seed 002 applied outward, webhook_attempt.h), free of gRPC.
//
// A published bus event that matches a webhook's bindings gets, in the same
// transaction as the publish, a delivery record and a job (kind
// webhook.delivery:<webhook>, keyed by the delivery's name, run_at the
// publish time, the payload the envelope's Gorg JSON, rendered once per
// event). Each webhook has an owner lease (webhook_owners.h): only the
// replica holding it claims the webhook's delivery jobs (core::JobWorker,
// one per webhook held, ticked by this engine's keeper), so the webhook's
// in-flight cap and retry timers hold across replicas. With one process
// (SQLite) it holds every webhook's lease. The claimed deliveries are
// POSTed, at most `workers` at once in all and `per_webhook_in_flight` at
// once to one webhook, webhooks taking turns, and only while the webhook's
// lease is held with time to spare. Each outcome is recorded with its
// job's completion (2xx), retry_at (backoff; Retry-After wins) or failure
// (dead letter), many outcomes per mutation (webhook_outcomes.h), and no
// attempt waits for that commit.
//
// Threads: none of the engine's own. The keeper (owner leases, claims'
// ticks) and the retries' wake-ups are core::Tickers on the engine's pool
// (server.cc: the "webhooks" pool). An attempt's POST goes out on one
// event-loop HTTP client (common/http/async_client.h: no thread waits for
// the answer), and the answer is applied and handed to the outcome writer
// on that loop's thread at once. The delivery read before an attempt runs
// on the pool, or, with the embedded store (local, short reads), on the
// loop thread as an answer frees the slot (Dispatch). Pending deliveries
// therefore survive a restart or kill -9 as jobs and keep their schedule;
// a crash between an attempt and its record repeats the attempt
// (at-least-once).
//
// Claims for a webhook stop while `claim_window` of its deliveries wait
// here, and every claim stops while 8 times the window wait: a slow
// receiver's pile does not stop the others' claims (each webhook claims on
// its own). A lease
// lost or handed back (rebalancing, Close) gives the webhook's waiting
// deliveries back at once (retry_at their run_at), and the webhook's work
// here ends once its attempts under way are recorded.
//
// Publishes made here wake the owner's claims at once when it is this
// replica; given the EventHub (replicas), the owner follows the log and
// claims at once what other replicas published too. The retries another
// owner set and leases that ran out are claimed on a 1 s poll (`tick`).

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
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/event_hub.h"
#include "server/core/executor.h"
#include "server/core/job_worker.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "server/core/ticker.h"
#include "server/notification/bus_route.h"
#include "server/notification/webhook_attempt.h"
#include "server/notification/webhook_outcomes.h"
#include "server/notification/webhook_owners.h"
#include "server/notification/webhook_records.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::core {
class LogFollower;
}  // namespace switchboard::core
namespace switchboard::httpclient {
class AsyncClient;
}  // namespace switchboard::httpclient

namespace switchboard::notification {

// The resource kind of delivery records.
inline constexpr char kDeliveryKind[] = "delivery";
// The job kind of a webhook's deliveries (server/core/job_queue.h):
// kDeliveryJobKindPrefix + the webhook's name.
inline constexpr char kDeliveryJobKindPrefix[] = "webhook.delivery:";
std::string DeliveryJobKind(absl::string_view webhook);
// The one kind of every delivery before owner leases (webhook_migration.h).
inline constexpr char kLegacyDeliveryJobKind[] = "webhook.delivery";

struct WebhookOptions {
  // The most attempts at once, over every webhook (config
  // webhook_workers). Not threads: attempts wait for their answers on the
  // HTTP client's one loop thread.
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
  // A webhook's owner lease (webhook_owners.h): its length, renewed when
  // less than `owner_renew_below` is left; no attempt starts with less
  // than a fifth of it left. The keeper's tick: owner leases, delivery
  // lease renewals and the claims' poll.
  absl::Duration owner_lease = absl::Seconds(60);
  absl::Duration owner_renew_below = absl::Seconds(30);
  absl::Duration tick = absl::Seconds(1);
  // Claimed deliveries of one webhook waiting here for a worker before its
  // claims stop; 8 times as many of all webhooks at most.
  int claim_window = 1024;
  // Deliveries one claim asks for, at most.
  int claim_batch = 256;
};

class WebhookEngine final : public BusRoute {
 public:
  // `pool`: where the keeper, the wake-ups and the attempts' store reads
  // and records run (nullptr: a pool of the engine's own, 4 threads). It
  // must outlive Close. `hub` (optional; with replicas): the log the owner
  // follows for the deliveries other replicas enqueue.
  WebhookEngine(core::Store* store, WebhookOptions options, core::Pool* pool, core::EventHub* hub = nullptr);
  ~WebhookEngine();

  // Reads the webhooks back, moves the deliveries of an older data dir to
  // this release's jobs (webhook_migration.h), then starts the keeper,
  // which takes owner leases and claims what is due.
  absl::Status Load();
  // Stops claiming and attempting (an attempt under way finishes), waits
  // until every outcome is recorded, gives the deliveries claimed but not
  // attempted back (retry_at their run_at) and hands the owner leases back,
  // so another replica goes on at once.
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

  // Deliveries not delivered or dead-lettered yet (their jobs unfinished;
  // counted again from the store every 10 ticks).
  int64_t pending() const;
  // The webhooks whose owner lease this replica holds.
  std::vector<std::string> owned() const;

 private:
  using Hook = std::shared_ptr<const v1::WebhookSubscription>;
  // The deliveries of one webhook claimed here.
  struct HookQueue {
    std::deque<core::Job> waiting;
    int in_flight = 0;
  };
  // A job picked for an attempt, with its webhook.
  struct Picked {
    core::Job job;
    Hook hook;
  };

  // A webhook whose owner lease is held here, and its claims.
  struct Owned {
    std::shared_ptr<core::JobWorker> worker;
    // Claims and attempts go on; false once the lease was lost or is being
    // handed back (`shedding`): the work here ends when drained.
    bool active = true;
    bool shedding = false;
    // Waiting deliveries being given back, not answered yet.
    int releasing = 0;
  };

  // New delivery events in the log (core::LogFollower): pokes the claims of
  // the webhooks owned here that got one (from any replica), or of every
  // webhook owned here when the follower fell behind.
  void OnLogPass(const std::vector<std::shared_ptr<const core::EventRecord>>& events, bool behind);

  // The keeper (a Ticker on pool_): owner leases, their webhooks' claims
  // and lease renewals, and the pending count every 10 rounds.
  void KeeperTick();
  void KeeperRound();
  // The waker (a Ticker on pool_): pokes the claims of the webhooks whose
  // retries came due (wakes_), and runs again by the next one.
  void WakeTick();
  void Own(const std::string& name);
  // Stops claims and attempts for `name` and gives its waiting deliveries
  // back; `shed`: its lease is handed back once its work here drained.
  void Disown(const std::string& name, bool shed);
  // Gives claimed, unattempted deliveries back to their queue at once.
  void GiveBack(const std::string& name, std::vector<core::Job> jobs);
  // Ends the work of disowned webhooks that drained.
  void Sweep();
  void PokeKeeper();
  std::shared_ptr<core::JobWorker> WorkerOf(const std::string& name) const;
  // Hands `o` to outcomes_, counting it for its webhook until recorded.
  void Record(Outcome o);
  // A job claimed by a webhook's worker (on the store's completion thread).
  void OnClaimed(core::Job job);
  // Claimed jobs whose webhook was not in hooks_: queued if the store has
  // it, finished as deleted if not (on the pool).
  void LookUp(std::vector<core::Job> jobs);
  // How many more deliveries of `name` may be claimed now.
  int RoomFor(const std::string& name);
  // Starts attempts while fewer than `workers` are under way and a webhook
  // has room (PickLocked); each goes on on the pool (Attempt). Cheap: any
  // thread, never with mu_ held. `here` (from the HTTP loop, as an answer
  // frees a slot): with the embedded store, whose reads are local and
  // short, the next attempts start on this thread, sparing each attempt a
  // hand-off to the pool; with a shared store (a round trip per read) they
  // go to the pool all the same.
  void Dispatch(bool here = false);
  // The next job whose webhook has room for an attempt, webhooks in turn;
  // jobs of deleted webhooks go to `orphans`. Call with mu_ held.
  bool PickLocked(Picked* out, std::vector<core::Job>* orphans);
  // On the pool (or the HTTP loop: Dispatch): reads the delivery record and
  // starts its POST; the answer comes back to Answered on the HTTP loop.
  // Attempts that end without a POST are recorded here.
  void Attempt(Picked picked);
  // On the HTTP loop: the answer of the attempt that started at `start_us`
  // applied to its record and recorded.
  void Answered(const Picked& picked, v1::WebhookDelivery d, int64_t start_us, const PostResult& result);
  // Gives the webhook's slot back (the attempt's answer is in) and counts
  // its outcome as being recorded (Sweep waits for it), then Dispatch(here).
  void ReleaseSlot(const std::string& webhook, bool here = false);
  // Runs `task` on pool_ (inline when the pool refuses it), counted in
  // tasks_ until it returned.
  void Run(std::function<void()> task);
  // Runs `task` here, now, counted in tasks_ the same way.
  void RunHere(const std::function<void()>& task);
  // What to write for a job that ends without an attempt.
  static Outcome Finish(const core::Job& job, bool failed, std::string why);
  // An outcome's mutation committed or failed.
  void OnRecorded(const Outcome& o, const absl::Status& status);
  // The job's delivery record: as committed here last when no claim came
  // between (records_), else read from the store.
  absl::StatusOr<v1::WebhookDelivery> ReadDelivery(const core::Job& job) const;
  // With replicas: wants_ from the webhooks as committed (the keeper's
  // tick), so Wants counts a webhook made on another replica within a tick
  // though no publish here has reloaded hooks_ since.
  void RefreshWants();

  core::Store* store_;
  const WebhookOptions options_;
  const RetryPolicy policy_;

  core::Pool* pool_;
  // With no pool given: the engine's own.
  std::unique_ptr<core::Pool> own_pool_;
  mutable std::mutex mu_;
  // Close waits on it: attempts, tasks and give-backs ending.
  std::condition_variable cv_;
  std::map<std::string, Hook> hooks_;  // by name, secret included
  // Routing (on the store's writer thread): hooks_ as of this version of
  // the routes (unset: never loaded), store.h's TxnReader::RoutesVersion.
  std::optional<uint64_t> routes_version_;
  // Claimed jobs of webhooks not in hooks_: made on another replica since
  // this one loaded, or deleted. A task on the pool looks them up.
  std::vector<core::Job> unknown_;
  std::map<std::string, HookQueue> queues_;
  // Webhooks with waiting deliveries, each once, in turn.
  std::deque<std::string> turns_;
  // Claimed and waiting; attempts under way (picked, until their answer
  // is in); tasks posted to the pool and not returned.
  int waiting_ = 0;
  int attempting_ = 0;
  int tasks_ = 0;
  // Most waiting deliveries of one webhook (claim_window), and of all.
  const int share_;
  const int max_held_;
  // When a retry written here comes due (time, webhook): the waker pokes
  // its webhook's claims then.
  std::set<std::pair<int64_t, std::string>> wakes_;
  bool closed_ = false;
  std::atomic<int64_t> pending_{0};
  std::string owner_;

  // Owner leases held here (or draining), by webhook; changed by the
  // keeper only.
  std::map<std::string, Owned> owned_;
  // Outcomes handed to outcomes_ and not recorded yet, by webhook.
  std::map<std::string, int> recording_;
  int keeper_rounds_ = 0;  // the keeper's only
  std::unique_ptr<core::Ticker> keeper_;
  std::unique_ptr<core::Ticker> waker_;
  // The attempts' POSTs.
  std::unique_ptr<httpclient::AsyncClient> client_;
  // The records committed here last, so that an attempt need not read its
  // record back (webhook_records.h): a backlog of this many routed here,
  // about 200 bytes each.
  static constexpr size_t kKeptRecords = 1 << 16;
  DeliveryRecords records_{kKeptRecords};

  // Every committed webhook's bindings (replicas only), for Wants besides
  // hooks_: refreshed by the keeper, never written by routing.
  mutable std::mutex wants_mu_;
  std::vector<std::string> wants_;

  std::unique_ptr<OutcomeWriter> outcomes_;
  std::unique_ptr<OwnerLeases> owners_;

  // The log follower (with a hub).
  core::EventHub* hub_;
  std::unique_ptr<core::LogFollower> follower_;
};

}  // namespace switchboard::notification
