#pragma once
// Which replica delivers to which webhook (issue 22: "one lease per webhook
// owns its in-flight cap and retry timers"). Each webhook has one job of
// kind webhook.owner, keyed by its name, enqueued with the webhook and never
// finished while it exists (core::Leadership's pattern, one per webhook).
// The replica holding that job's lease is the only one that claims the
// webhook's deliveries (kind webhook.delivery:<name>), so the webhook's
// in-flight cap and retry timers hold across the cluster.
//
// Leases are spread: every replica keeps a presence job (kind
// webhook.replica, keyed by its id, leased to itself and renewed like the
// others); the live replicas are the running presence jobs, and a presence
// whose lease ran out (a dead or frozen replica) is claimed by the next
// replica's tick and finished. A replica claims free owner leases up to its
// fair share, ceil(webhooks / live replicas); at or above it, it still
// claims one every `grace` (a lease nobody else takes: a count gone stale),
// and one held above the share for `grace` on end is handed back
// (Excess, HandBack) once the engine has drained it. With one process
// (SQLite) it holds every lease.
//
// A lease lost (its heartbeat refused: another replica took it after it ran
// out, or the webhook was deleted, which wakes its job) is reported by Tick;
// the fencing tokens of the delivery jobs refuse what the old holder still
// writes for deliveries taken over. A claimed owner lease whose webhook is
// gone is finished.
//
// Every call but Holds, held and share blocks on the store: call them from
// one caller at a time (WebhookEngine's keeper, a core::Ticker whose runs
// never overlap), never from the store's completion thread.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/job.h"
#include "server/core/job_queue.h"

namespace switchboard::notification {

inline constexpr char kOwnerJobKind[] = "webhook.owner";
inline constexpr char kReplicaJobKind[] = "webhook.replica";

class OwnerLeases {
 public:
  struct Options {
    // This replica's id: the owner of its leases, the key of its presence.
    std::string owner;
    absl::Duration lease = absl::Seconds(10);
    // A held lease is renewed by a Tick when less than this is left.
    absl::Duration renew_below = absl::Seconds(10);
    // See above: the extra claim's period and the rebalancing delay.
    absl::Duration grace = absl::Seconds(20);
  };
  // Whether the webhook still exists.
  using Exists = std::function<absl::StatusOr<bool>(const std::string& name)>;

  OwnerLeases(core::JobQueue* queue, Options options, Exists exists);

  struct Changes {
    std::vector<std::string> gained;
    std::vector<std::string> lost;
  };
  // One round: keeps the presence, finishes dead replicas' presences,
  // renews the held leases (those in `renew_now` whatever their time left:
  // webhooks deleted here, whose heartbeat is then refused) and claims free
  // ones up to the share.
  Changes Tick(const std::set<std::string>& renew_now = {});
  // How many held leases should be handed back to even out the cluster.
  int Excess();
  // Hands `name`'s lease back (READY now) and forgets it.
  void HandBack(const std::string& name, const std::string& why);
  // Hands every lease back and finishes the presence (a clean stop).
  void Stop();

  // Whether `name`'s lease is held here with at least `margin` left.
  bool Holds(const std::string& name, absl::Duration margin) const;
  std::vector<std::string> held() const;
  // The fair share at the last Tick, and the live replicas it counted.
  int share() const;
  int live_replicas() const;

 private:
  absl::StatusOr<core::JobLease> WriteNow(core::JobWrite w);
  absl::StatusOr<std::vector<core::Job>> ClaimNow(const std::string& kind, int n);
  void KeepPresence();
  void ReapDeadReplicas();
  void Renew(const std::set<std::string>& renew_now, Changes* changes);
  void Claim(int n, Changes* changes);

  core::JobQueue* queue_;
  const Options options_;
  Exists exists_;

  mutable std::mutex mu_;
  std::map<std::string, core::JobLease> held_;
  std::optional<core::JobLease> presence_;
  int share_ = 0;
  int live_ = 1;
  absl::Time last_extra_ = absl::InfinitePast();
  // Since when more than the share is held (InfiniteFuture: not over).
  absl::Time over_since_ = absl::InfiniteFuture();
};

}  // namespace switchboard::notification
