#include "server/core/job_worker.h"

#include <algorithm>
#include <vector>

#include "absl/time/clock.h"
#include "common/log.h"

namespace switchboard::core {

JobWorker::JobWorker(JobQueue* queue, Options options, Run run, Room room)
    : queue_(queue), options_(std::move(options)), run_(std::move(run)), room_(std::move(room)) {}

JobWorker::~JobWorker() { Stop(); }

void JobWorker::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_ || stopping_) return;
    started_ = true;
  }
  ClaimNow();
  if (options_.ticker_pool != nullptr) {
    ticker_ = std::make_unique<Ticker>(options_.ticker_pool, options_.tick, [this] { Tick(); });
    ticker_->Start(options_.tick);
  }
}

void JobWorker::Poke() { ClaimNow(); }

void JobWorker::Tick() {
  Renew();
  ClaimNow();
}

void JobWorker::Hold(const std::string& key, const JobLease& lease) {
  std::lock_guard<std::mutex> lock(mu_);
  held_[key] = HeldLease{lease, false};
}

std::optional<JobLease> JobWorker::Held(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(key);
  if (it == held_.end() || it->second.lost) return std::nullopt;
  return it->second.lease;
}

std::optional<JobLease> JobWorker::Fence(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(key);
  if (it == held_.end()) return std::nullopt;
  return it->second.lease;
}

void JobWorker::Abandon(const std::string& key, int64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(key);
  if (it != held_.end() && it->second.lease.token == token) it->second.lost = true;
}

void JobWorker::Drop(const std::string& key, int64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(key);
  if (it != held_.end() && it->second.lease.token == token) held_.erase(it);
}

size_t JobWorker::held_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [key, h] : held_) n += h.lost ? 0 : 1;
  return n;
}

void JobWorker::Finished() {
  std::lock_guard<std::mutex> lock(mu_);
  --in_flight_;
  cv_.notify_all();
}

void JobWorker::ClaimNow() {
  int n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) return;
    if (claiming_) {
      claim_again_ = true;
      return;
    }
    n = std::min(options_.claim_batch, room_ ? room_() : options_.claim_batch);
    if (n <= 0) return;
    claiming_ = true;
    ++in_flight_;
  }
  queue_->Claim(options_.kind, options_.owner, n, options_.lease, [this, n](absl::StatusOr<std::vector<Job>> got) {
    bool again = false;
    std::vector<Job> jobs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      claiming_ = false;
      if (got.ok()) {
        for (const Job& j : *got) held_[j.key] = HeldLease{j.lease, false};
        if (!stopping_) jobs = std::move(*got);
        again = static_cast<int>(jobs.size()) == n;
      }
      again = (again || claim_again_) && !stopping_;
      claim_again_ = false;
    }
    if (!got.ok()) {
      log::Warn("job claim failed", {{"kind", options_.kind}, {"error", got.status().ToString()}});
    }
    for (Job& j : jobs) run_(std::move(j));
    Finished();
    if (again) ClaimNow();
  });
}

void JobWorker::Renew() {
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  const int64_t half_us = absl::ToInt64Microseconds(options_.lease) / 2;
  std::vector<std::pair<std::string, JobLease>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    for (const auto& [key, h] : held_) {
      if (!h.lost && h.lease.expires_us - now_us < half_us) due.emplace_back(key, h.lease);
    }
    in_flight_ += static_cast<int>(due.size());
  }
  for (auto& [key, lease] : due) {
    queue_->Heartbeat(lease, options_.lease, [this, key = key, old = lease](absl::StatusOr<JobLease> renewed) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = held_.find(key);
        if (it != held_.end() && it->second.lease.token == old.token) {
          if (renewed.ok()) {
            it->second.lease.expires_us = renewed->expires_us;
          } else if (absl::IsFailedPrecondition(renewed.status())) {
            it->second.lost = true;  // taken over: its work's late writes are refused (Fence)
          } else if (absl::IsNotFound(renewed.status())) {
            held_.erase(it);
          }
        }
      }
      if (!renewed.ok()) {
        log::Warn("job lease not renewed", {{"kind", options_.kind},
                                            {"key", key},
                                            {"job", old.job_id},
                                            {"error", renewed.status().ToString()}});
      }
      Finished();
    });
  }
}

void JobWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (ticker_) ticker_->Stop();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return in_flight_ == 0; });
}

}  // namespace switchboard::core
