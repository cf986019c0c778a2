#include "server/notification/webhook_outcomes.h"

#include <algorithm>

#include "server/notification/webhooks.h"

namespace switchboard::notification {

OutcomeWriter::OutcomeWriter(core::Store* store, Recorded recorded, int max_per_mutation, int max_in_flight)
    : store_(store),
      recorded_(std::move(recorded)),
      max_per_mutation_(std::max(1, max_per_mutation)),
      max_in_flight_(std::max(1, max_in_flight)) {}

OutcomeWriter::~OutcomeWriter() { Drain(); }

int64_t OutcomeWriter::mutations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mutations_;
}

OutcomeWriter::Batch OutcomeWriter::TakeLocked() {
  if (queued_.empty() || in_flight_ >= max_in_flight_) return nullptr;
  auto batch = std::make_shared<std::vector<Outcome>>();
  if (static_cast<int>(queued_.size()) <= max_per_mutation_) {
    batch->swap(queued_);
  } else {
    auto end = queued_.begin() + max_per_mutation_;
    batch->assign(std::make_move_iterator(queued_.begin()), std::make_move_iterator(end));
    queued_.erase(queued_.begin(), end);
  }
  ++in_flight_;
  return batch;
}

void OutcomeWriter::Add(Outcome outcome) {
  Batch batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued_.push_back(std::move(outcome));
    batch = TakeLocked();
  }
  if (batch) Commit(std::move(batch));
}

void OutcomeWriter::Commit(Batch batch) {
  core::Mutation m;
  m.jobs.reserve(batch->size());
  for (Outcome& o : *batch) {
    if (!o.record.empty()) {
      m.writes.push_back({kDeliveryKind, o.delivery, o.record, false});
      m.events.push_back({"notification", kDeliveryKind, o.delivery, o.webhook, o.event});
    }
    m.jobs.push_back(o.job);
  }
  store_->CommitAsync(std::move(m), [this, batch](absl::StatusOr<core::CommitResult> r) {
    Committed(batch, r.status());
  });
}

void OutcomeWriter::Committed(const Batch& batch, const absl::Status& status) {
  if (absl::IsFailedPrecondition(status) && batch->size() > 1) {
    // A lease was lost: record the others on their own.
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ += static_cast<int>(batch->size());
    }
    for (Outcome& o : *batch) Commit(std::make_shared<std::vector<Outcome>>(1, std::move(o)));
  } else {
    for (const Outcome& o : *batch) recorded_(o, status);
  }
  Finished();
}

void OutcomeWriter::Finished() {
  Batch next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    ++mutations_;
    next = TakeLocked();
    if (in_flight_ == 0 && queued_.empty()) idle_.notify_all();
  }
  if (next) Commit(std::move(next));
}

void OutcomeWriter::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return in_flight_ == 0 && queued_.empty(); });
}

}  // namespace switchboard::notification
