#include "server/core/leadership.h"

#include <chrono>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace switchboard::core {

Leadership::Leadership(JobQueue* queue, Pool* pool, Options options, OnChange on_change)
    : queue_(queue),
      options_(std::move(options)),
      on_change_(std::move(on_change)),
      ticker_(pool, options_.tick, [this] { Tick(); }) {}

Leadership::~Leadership() { Stop(); }

void Leadership::Start() { ticker_.Start(); }

void Leadership::Tick() {
  std::optional<JobLease> held;
  bool enqueued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || in_flight_) return;
    in_flight_ = true;
    held = held_;
    enqueued = enqueued_;
  }
  if (enqueued) return ClaimOrRenew(held);
  // Every replica enqueues once; the key keeps it one job. Whatever the
  // answer, the claim goes on at once: it finds the job if any replica made it.
  queue_->Enqueue(kKind, kKey, "", absl::Now(), [this](absl::StatusOr<JobLease> r) {
    if (!r.ok()) log::Warn("leader job enqueue failed", {{"error", std::string(r.status().message())}});
    {
      std::lock_guard<std::mutex> lock(mu_);
      enqueued_ = r.ok();
    }
    ClaimOrRenew(std::nullopt);
  });
}

void Leadership::ClaimOrRenew(std::optional<JobLease> held) {
  if (!held) {
    queue_->Claim(kKind, options_.owner, 1, options_.lease, [this](absl::StatusOr<std::vector<Job>> r) {
      if (!r.ok()) {
        log::Warn("leader claim failed", {{"error", std::string(r.status().message())}});
        return Finished(std::nullopt);
      }
      Finished(r->empty() ? std::nullopt : std::optional<JobLease>(r->front().lease));
    });
    return;
  }
  queue_->Heartbeat(*held, options_.lease, [this, held](absl::StatusOr<JobLease> r) {
    if (r.ok()) return Finished(*r);
    if (absl::IsFailedPrecondition(r.status()) || absl::IsNotFound(r.status())) {
      log::Warn("leadership lost: another replica took the leader lease",
                {{"owner", options_.owner}, {"term", held->token}});
      return Finished(std::nullopt);
    }
    // The store did not answer (a lost connection): still leading until
    // the lease would have run out, since nobody can take it before.
    log::Warn("leader heartbeat failed", {{"error", std::string(r.status().message())}});
    if (absl::Now() >= absl::FromUnixMicros(held->expires_us)) return Finished(std::nullopt);
    Finished(held);
  });
}

void Leadership::Finished(std::optional<JobLease> now) {
  int64_t before = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    before = held_ ? held_->token : 0;
    held_ = now;
  }
  const int64_t after = now ? now->token : 0;
  if (before != after) {
    if (before != 0) {
      log::Info("stopped leading", {{"owner", options_.owner}, {"term", before}});
      if (on_change_) on_change_(false, before);
    }
    if (after != 0) {
      log::Info("leading", {{"owner", options_.owner}, {"term", after}});
      if (on_change_) on_change_(true, after);
    }
  }
  // Last: Stop waits for this, so nothing here runs once Stop has returned.
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ = false;
  cv_.notify_all();
}

void Leadership::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  ticker_.Stop();
  std::optional<JobLease> held;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !in_flight_; });
    held = held_;
  }
  if (!held) return;
  // Hand the lease back: the job is READY at once, and the next replica's
  // tick takes it.
  bool answered = false;
  queue_->RetryAt(*held, absl::Now(), "handed back: the leader stopped", [&](absl::Status s) {
    if (!s.ok()) log::Warn("leader hand-back failed", {{"error", std::string(s.message())}});
    std::lock_guard<std::mutex> lock(mu_);
    answered = true;
    held_.reset();
    cv_.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return answered; });
  }
  log::Info("stopped leading", {{"owner", options_.owner}, {"term", held->token}});
  if (on_change_) on_change_(false, held->token);
}

bool Leadership::leading() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.has_value();
}

int64_t Leadership::term() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_ ? held_->token : 0;
}

}  // namespace switchboard::core
