#pragma once
// Records the outcomes of webhook attempts (webhooks.h), many per Mutation:
// each outcome is the delivery record with its log event (when it changed)
// and the write that finishes or reschedules the delivery's job (complete,
// retry_at or fail, naming the lease held), so a record and its job always
// commit together. Workers hand an outcome over and go on to their next
// attempt; the outcomes that arrive while a mutation is committing ride the
// next one (at most `max_in_flight` mutations at once, `max_per_mutation`
// outcomes each), so a backlog drains with few rounds to the store.
//
// One refused outcome (its lease was taken over) would refuse the whole
// mutation: then each outcome of it is committed again on its own, so the
// others are recorded and only the refused one is lost (its job's new
// holder makes the attempt again: at-least-once).

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/core/job.h"
#include "server/core/store.h"

namespace switchboard::notification {

struct Outcome {
  // The delivery (its job's key) and its webhook.
  std::string delivery;
  std::string webhook;
  // Complete, RetryAt or Fail of the delivery's job, with the lease held.
  core::JobWrite job;
  // The serialized delivery record and its log event (a NotificationEvent);
  // both empty when the record stays as it is.
  std::string record;
  std::string event;
};

class OutcomeWriter {
 public:
  // Runs for each outcome once its mutation committed (ok) or failed, on
  // the store's completion thread: never block in it.
  using Recorded = std::function<void(const Outcome&, const absl::Status&)>;

  OutcomeWriter(core::Store* store, Recorded recorded, int max_per_mutation = 512, int max_in_flight = 2);
  ~OutcomeWriter();

  void Add(Outcome outcome);
  // Waits until every outcome added so far is recorded (or failed) and its
  // callback has run.
  void Drain();
  // Mutations answered so far (fewer than outcomes when they were
  // grouped).
  int64_t mutations() const;

 private:
  using Batch = std::shared_ptr<std::vector<Outcome>>;
  // Starts the next mutation if there is room; call with mu_ held.
  Batch TakeLocked();
  void Commit(Batch batch);
  void Committed(const Batch& batch, const absl::Status& status);
  void Finished();  // one mutation answered

  core::Store* store_;
  Recorded recorded_;
  const int max_per_mutation_;
  const int max_in_flight_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::vector<Outcome> queued_;
  int in_flight_ = 0;
  int64_t mutations_ = 0;
};

}  // namespace switchboard::notification
