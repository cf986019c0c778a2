#include "server/core/job_pruner.h"

#include <future>

#include "absl/time/clock.h"
#include "common/log.h"

namespace switchboard::core {

JobPruner::JobPruner(JobQueue* queue, Options options) : queue_(queue), options_(options) {}

JobPruner::~JobPruner() { Stop(); }

void JobPruner::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void JobPruner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int> JobPruner::PruneBatch(absl::Time before) {
  std::promise<absl::StatusOr<int>> p;
  queue_->Prune(before, options_.batch, [&p](absl::StatusOr<int> n) { p.set_value(std::move(n)); });
  return p.get_future().get();
}

absl::StatusOr<int64_t> JobPruner::PruneNow() {
  // One cutoff for the whole round: jobs finishing meanwhile wait for the
  // next one.
  const absl::Time before = absl::Now() - options_.retention;
  int64_t total = 0;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    absl::StatusOr<int> n = PruneBatch(before);
    if (!n.ok()) return n.status();
    total += *n;
    if (*n < options_.batch) break;
  }
  return total;
}

void JobPruner::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoMicroseconds(options_.interval), [this] { return stopping_; });
    if (stopping_) break;
    if (options_.active && !options_.active()) continue;
    lock.unlock();
    absl::StatusOr<int64_t> n = PruneNow();
    if (!n.ok()) {
      log::Warn("finished jobs not pruned", {{"error", n.status().ToString()}});
    } else if (*n > 0) {
      log::Debug("finished jobs pruned", {{"jobs", *n}});
    }
    lock.lock();
  }
}

}  // namespace switchboard::core
