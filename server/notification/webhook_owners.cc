#include "server/notification/webhook_owners.h"

#include <algorithm>
#include <future>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace switchboard::notification {
namespace {

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

bool Refused(const absl::Status& s) { return absl::IsFailedPrecondition(s) || absl::IsNotFound(s); }

}  // namespace

OwnerLeases::OwnerLeases(core::JobQueue* queue, Options options, Exists exists)
    : queue_(queue), options_(std::move(options)), exists_(std::move(exists)) {}

absl::StatusOr<core::JobLease> OwnerLeases::WriteNow(core::JobWrite w) {
  std::promise<absl::StatusOr<core::JobLease>> p;
  queue_->Write(std::move(w), [&p](absl::StatusOr<core::JobLease> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

absl::StatusOr<std::vector<core::Job>> OwnerLeases::ClaimNow(const std::string& kind, int n) {
  std::promise<absl::StatusOr<std::vector<core::Job>>> p;
  queue_->Claim(kind, options_.owner, n, options_.lease,
                [&p](absl::StatusOr<std::vector<core::Job>> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

void OwnerLeases::KeepPresence() {
  std::optional<core::JobLease> presence;
  {
    std::lock_guard<std::mutex> lock(mu_);
    presence = presence_;
  }
  if (!presence) {
    // Enqueued claimed; de-duplicated (job_id 0) while a presence of ours
    // that was taken over is not finished yet: the next tick tries again.
    auto r = WriteNow(core::JobWrite::EnqueueClaimed(kReplicaJobKind, options_.owner, "", options_.owner,
                                                     options_.lease));
    if (!r.ok()) {
      log::Warn("webhook replica presence not written", {{"error", r.status().ToString()}});
    } else if (r->job_id != 0) {
      presence = *r;
    }
  } else if (presence->expires_us - NowUs() < absl::ToInt64Microseconds(options_.renew_below)) {
    auto r = WriteNow(core::JobWrite::Heartbeat(*presence, options_.lease));
    if (r.ok()) {
      presence->expires_us = r->expires_us;
    } else if (Refused(r.status())) {
      presence.reset();
    } else {
      log::Warn("webhook replica presence not renewed", {{"error", r.status().ToString()}});
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  presence_ = presence;
}

void OwnerLeases::ReapDeadReplicas() {
  // Every presence whose lease ran out is claimable: its replica is gone.
  auto dead = ClaimNow(kReplicaJobKind, 16);
  if (!dead.ok()) {
    log::Warn("webhook replica presences not read", {{"error", dead.status().ToString()}});
    return;
  }
  for (const core::Job& j : *dead) {
    if (j.key == options_.owner) {
      // Ours ran out (this process stalled): it is ours again.
      std::lock_guard<std::mutex> lock(mu_);
      presence_ = j.lease;
      continue;
    }
    auto r = WriteNow(core::JobWrite::Complete(j.lease));
    if (r.ok()) log::Info("webhook owners: a replica is gone", {{"replica", j.key}});
  }
}

void OwnerLeases::Renew(const std::set<std::string>& renew_now, Changes* changes) {
  std::map<std::string, core::JobLease> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held = held_;
  }
  const int64_t now = NowUs();
  const int64_t below = absl::ToInt64Microseconds(options_.renew_below);
  // Sent together, answered in any order.
  std::map<std::string, std::future<absl::StatusOr<core::JobLease>>> out;
  for (const auto& [name, lease] : held) {
    if (lease.expires_us - now >= below && renew_now.count(name) == 0) continue;
    auto p = std::make_shared<std::promise<absl::StatusOr<core::JobLease>>>();
    out.emplace(name, p->get_future());
    queue_->Heartbeat(lease, options_.lease, [p](absl::StatusOr<core::JobLease> r) { p->set_value(std::move(r)); });
  }
  for (auto& [name, f] : out) {
    absl::StatusOr<core::JobLease> r = f.get();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(name);
    if (it == held_.end()) continue;
    if (r.ok()) {
      it->second.expires_us = r->expires_us;
      continue;
    }
    if (Refused(r.status())) {
      log::Warn("webhook owner lease lost", {{"webhook", name}, {"owner", options_.owner}});
    } else if (NowUs() >= it->second.expires_us) {
      log::Warn("webhook owner lease ran out unrenewed", {{"webhook", name}, {"error", r.status().ToString()}});
    } else {
      continue;  // not answered: still ours until it runs out
    }
    held_.erase(it);
    changes->lost.push_back(name);
  }
}

void OwnerLeases::Claim(int n, Changes* changes) {
  auto got = ClaimNow(kOwnerJobKind, n);
  if (!got.ok()) {
    log::Warn("webhook owner claim failed", {{"error", got.status().ToString()}});
    return;
  }
  for (const core::Job& j : *got) {
    absl::StatusOr<bool> exists = exists_(j.key);
    if (!exists.ok()) {
      // Cannot tell: let another try (or this one, next tick).
      (void)WriteNow(core::JobWrite::RetryAt(j.lease, absl::Now(), "webhook lookup failed"));
      continue;
    }
    if (!*exists) {
      // Deleted: its lease job ends (its deliveries were cancelled with it).
      (void)WriteNow(core::JobWrite::Complete(j.lease));
      continue;
    }
    log::Info("webhook owner lease taken", {{"webhook", j.key}, {"owner", options_.owner}, {"fencing", j.lease.token}});
    std::lock_guard<std::mutex> lock(mu_);
    held_[j.key] = j.lease;
    changes->gained.push_back(j.key);
  }
}

OwnerLeases::Changes OwnerLeases::Tick(const std::set<std::string>& renew_now) {
  Changes changes;
  KeepPresence();
  ReapDeadReplicas();
  Renew(renew_now, &changes);
  auto replicas = queue_->CountByState(kReplicaJobKind);
  auto owners = queue_->CountByState(kOwnerJobKind);
  if (!replicas.ok() || !owners.ok()) {
    log::Warn("webhook owners not counted",
              {{"error", (replicas.ok() ? owners.status() : replicas.status()).ToString()}});
    return changes;
  }
  const int live = static_cast<int>(std::max<int64_t>(1, replicas->running));
  const int64_t webhooks = owners->ready + owners->running;
  const int share = static_cast<int>((webhooks + live - 1) / live);
  int held = 0;
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    share_ = share;
    live_ = live;
    held = static_cast<int>(held_.size());
  }
  if (held < share) {
    Claim(share - held, &changes);
  } else if (owners->ready > 0 || owners->running > held) {
    if (now - last_extra_ >= options_.grace) {
      last_extra_ = now;
      Claim(1, &changes);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int>(held_.size()) > share_) {
    over_since_ = std::min(over_since_, now);
  } else {
    over_since_ = absl::InfiniteFuture();
  }
  return changes;
}

int OwnerLeases::Excess() {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Now() - over_since_ < options_.grace) return 0;
  return std::max(0, static_cast<int>(held_.size()) - share_);
}

void OwnerLeases::HandBack(const std::string& name, const std::string& why) {
  std::optional<core::JobLease> lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(name);
    if (it == held_.end()) return;
    lease = it->second;
    held_.erase(it);
    // The next excess counts from here.
    if (over_since_ != absl::InfiniteFuture()) over_since_ = absl::Now();
  }
  auto r = WriteNow(core::JobWrite::RetryAt(*lease, absl::Now(), why));
  if (!r.ok() && !Refused(r.status())) {
    log::Warn("webhook owner lease not handed back", {{"webhook", name}, {"error", r.status().ToString()}});
  } else {
    log::Info("webhook owner lease handed back", {{"webhook", name}, {"owner", options_.owner}});
  }
}

void OwnerLeases::Stop() {
  for (const std::string& name : held()) HandBack(name, "handed back: the replica stopped");
  std::optional<core::JobLease> presence;
  {
    std::lock_guard<std::mutex> lock(mu_);
    presence.swap(presence_);
  }
  if (presence) (void)WriteNow(core::JobWrite::Complete(*presence));
}

bool OwnerLeases::Holds(const std::string& name, absl::Duration margin) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(name);
  return it != held_.end() && it->second.expires_us - NowUs() >= absl::ToInt64Microseconds(margin);
}

std::vector<std::string> OwnerLeases::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, lease] : held_) out.push_back(name);
  return out;
}

int OwnerLeases::share() const {
  std::lock_guard<std::mutex> lock(mu_);
  return share_;
}

int OwnerLeases::live_replicas() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

}  // namespace switchboard::notification
