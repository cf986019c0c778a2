#pragma once
// The runs' jobs. Each run is a job of kind "resourcing.run" (kRunJobKind),
// keyed by the run's name, its payload the run's workspace (so a claimed
// run queues behind its workspace's other runs without a read); the
// checkpoint itself stays on the Run record. The job is
//   - enqueued, claimed by this replica, in SubmitRun's transaction;
//   - renewed by every checkpoint of a pass (RunPass::Checkpoint), and by
//     the JobWorker's ticks while the run waits (for a retry, an approval
//     or an external pipeline's report);
//   - completed in the transaction that records the run's end (FailRun, a
//     report, an abandon; TransactEnding);
//   - claimed at start when a crash or kill left it unfinished (SQLite
//     makes its RUNNING jobs READY when it opens), and then its run resumes
//     from the checkpoint on the Run record.
// A pass runs only with its run's lease, and writes with it: once the
// lease is taken over, its writes are refused ("lease lost") and it stops.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "server/core/job.h"
#include "server/resourcing/engine.h"
#include "server/resourcing/txn.h"

namespace switchboard::resourcing {

// Whether `s` refuses a job write whose lease was taken over
// (core::LeaseLost).
bool IsLeaseLost(const absl::Status& s);

// The job writes of a transaction that may end runs (TransactEnding).
struct ResourcingEngine::EndingJobs {
  // The body calls it for each run it ends: completes the run's job in
  // the transaction (with the pass's lease for the pass's run, else with
  // the lease held here, if any and if `others`), or wakes it when this
  // process holds no lease on it.
  void Ended(Txn& txn, const std::string& run);

  ResourcingEngine* engine = nullptr;
  std::string pass_run;
  std::optional<core::JobLease> pass_lease;
  bool others = true;
  // Filled by Ended: the completed jobs (run, token), to drop once
  // committed; whether the pass's run ended; whether other runs' jobs were
  // written.
  std::vector<std::pair<std::string, int64_t>> completed;
  bool pass_ended = false;
  bool wrote_others = false;
  // Whether a run held elsewhere (or by nobody) was woken (JobWrite::Wake).
  bool woke = false;
};

}  // namespace switchboard::resourcing
