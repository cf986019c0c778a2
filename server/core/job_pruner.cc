#include "server/core/job_pruner.h"

#include <future>

#include "absl/time/clock.h"
#include "common/log.h"

namespace switchboard::core {

JobPruner::JobPruner(JobQueue* queue, Pool* pool, Options options)
    : queue_(queue), pool_(pool), options_(options) {}

JobPruner::~JobPruner() { Stop(); }

void JobPruner::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticker_ != nullptr || stopping_) return;
  ticker_ = std::make_unique<Ticker>(pool_, options_.interval, [this] { Round(); });
  ticker_->Start(options_.interval);
}

void JobPruner::Stop() {
  Ticker* ticker = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    ticker = ticker_.get();
  }
  if (ticker != nullptr) ticker->Stop();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !in_round_; });
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

void JobPruner::Round() {
  if (options_.active && !options_.active()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || in_round_) return;
    in_round_ = true;
  }
  // One cutoff for the whole round, as in PruneNow.
  NextBatch(absl::Now() - options_.retention, 0);
}

void JobPruner::NextBatch(absl::Time before, int64_t total) {
  queue_->Prune(before, options_.batch, [this, before, total](absl::StatusOr<int> n) {
    if (!n.ok()) return EndRound(n.status(), total);
    bool more = *n >= options_.batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      more = more && !stopping_;
    }
    if (more) return NextBatch(before, total + *n);
    EndRound(absl::OkStatus(), total + *n);
  });
}

void JobPruner::EndRound(const absl::Status& status, int64_t total) {
  if (!status.ok()) {
    log::Warn("finished jobs not pruned", {{"error", status.ToString()}});
  } else if (total > 0) {
    log::Debug("finished jobs pruned", {{"jobs", total}});
  }
  std::lock_guard<std::mutex> lock(mu_);
  in_round_ = false;
  cv_.notify_all();
}

}  // namespace switchboard::core
