// The runs' jobs (run_jobs.h): the worker that claims and renews them, the
// job writes of the engine's transactions, and the one-time upgrade of a
// data dir that predates them.

#include "server/resourcing/run_jobs.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "server/resourcing/list_index.h"
#include "server/resourcing/names.h"
#include "server/resourcing/records.h"

namespace switchboard::resourcing {
namespace {

// The kUpgradeKind record written once UpgradeDataDir is done.
constexpr char kUpgradeRunJobs[] = "run-jobs-and-list-indexes";
// Records read, and jobs enqueued, per transaction of the upgrade.
constexpr int kUpgradePage = 500;

}  // namespace

bool IsLeaseLost(const absl::Status& s) {
  return absl::IsFailedPrecondition(s) && absl::StartsWith(s.message(), "lease lost");
}

void ResourcingEngine::EndingJobs::Ended(Txn& txn, const std::string& run) {
  std::optional<core::JobLease> lease;
  if (pass_lease.has_value() && run == pass_run) {
    lease = pass_lease;
    pass_ended = true;
  } else if (others) {
    lease = engine->jobs_->Held(run);
    wrote_others = wrote_others || lease.has_value();
  }
  if (!lease.has_value()) {
    // Not held here (another replica holds it, or nobody does): woken, so
    // that whoever claims it next loads the ended run and completes it.
    txn.AddJob(core::JobWrite::Wake(kRunJobKind, run));
    woke = true;
    return;
  }
  txn.AddJob(core::JobWrite::Complete(*lease));
  completed.emplace_back(run, lease->token);
}

core::JobWrite ResourcingEngine::NewRunJob(const std::string& run, const std::string& workspace) const {
  return core::JobWrite::EnqueueClaimed(kRunJobKind, run, workspace, jobs_->owner(), jobs_->lease());
}

core::JobWrite ResourcingEngine::Renew(const core::JobLease& held) const {
  return core::JobWrite::Heartbeat(held, jobs_->lease());
}

void ResourcingEngine::KeepRenewed(const std::string& run, const core::CommitResult& r, size_t index) {
  if (r.replayed || index >= r.jobs.size() || r.jobs[index].job_id <= 0) return;
  jobs_->Hold(run, r.jobs[index]);
}

void ResourcingEngine::StartJobs() {
  core::JobWorker::Options o;
  o.kind = kRunJobKind;
  o.owner = options_.replica_id.empty() ? core::NewReplicaId() : options_.replica_id;
  o.lease = options_.job_lease;
  o.tick = options_.job_tick > absl::ZeroDuration() ? options_.job_tick : options_.job_lease / 4;
  o.ticker_pool = work_pool_;
  // No room limit: claimed runs wait in the engine's queue for a worker.
  jobs_ = std::make_unique<core::JobWorker>(&store_->jobs(), o, [this](core::Job job) { RunClaimed(std::move(job)); },
                                            nullptr);
  jobs_->Start();
}

void ResourcingEngine::RunClaimed(core::Job job) {
  if (job.attempts > 1) {
    log::Info("resuming a run", {{"run", job.key}, {"attempt", job.attempts}});
  }
  // A job without its workspace queues on its own.
  const std::string workspace = job.payload.empty() ? job.key : job.payload;
  Enqueue(job.key, workspace);
}

void ResourcingEngine::TransactEnding(const std::string& request_id, EndingBody body, CommitDone done,
                                      const std::string& scope, const std::string& fingerprint,
                                      const std::string& pass_run, std::optional<core::JobLease> pass_lease,
                                      bool others) {
  auto jobs = std::make_shared<EndingJobs>();
  jobs->engine = this;
  jobs->pass_run = pass_run;
  jobs->pass_lease = pass_lease;
  jobs->others = others;
  TransactAsync(
      store_, request_id,
      [this, body, jobs](Txn& txn) -> absl::Status {
        jobs->completed.clear();
        jobs->pass_ended = jobs->wrote_others = jobs->woke = false;
        RETURN_IF_ERROR(body(txn, *jobs));
        // The pass's run goes on: its checkpoint renews the lease.
        if (jobs->pass_lease.has_value() && !jobs->pass_ended) txn.AddJob(Renew(*jobs->pass_lease));
        return absl::OkStatus();
      },
      [this, request_id, body, done, scope, fingerprint, jobs](absl::StatusOr<core::CommitResult> r) {
        if (IsLeaseLost(r.status()) && jobs->wrote_others) {
          // Another run's lease was taken over meanwhile: again, leaving the
          // other runs' jobs to their holders.
          return TransactEnding(request_id, body, done, scope, fingerprint, jobs->pass_run, jobs->pass_lease, false);
        }
        if (r.ok() && !r->replayed) {
          for (const auto& [run, token] : jobs->completed) jobs_->Drop(run, token);
          if (jobs->woke) jobs_->Poke();
        }
        done(std::move(r));
      },
      scope, fingerprint);
}

absl::Status ResourcingEngine::UpgradeDataDir() {
  ASSIGN_OR_RETURN(std::optional<std::string> upgraded, store_->GetResource(kUpgradeKind, kUpgradeRunJobs));
  if (upgraded.has_value()) return absl::OkStatus();
  struct Open {
    int64_t number;
    std::string name;
    std::string workspace;
  };
  std::vector<Open> open;
  int64_t runs = 0, prs = 0;
  // The index entries of a page of records, in one transaction.
  auto index = [this](const char* kind, auto parse_into, int64_t* count) -> absl::Status {
    std::string after;
    do {
      ASSIGN_OR_RETURN(core::ResourcePage page, store_->ListResources(kind, after, kUpgradePage));
      core::Mutation m;
      for (const auto& [name, value] : page.items) RETURN_IF_ERROR(parse_into(name, value, &m));
      *count += static_cast<int64_t>(page.items.size());
      if (!m.writes.empty()) RETURN_IF_ERROR(store_->Commit(std::move(m)).status());
      after = page.next_after;
    } while (!after.empty());
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(index(
      kRunKind,
      [&open](const std::string& name, const std::string& value, core::Mutation* m) -> absl::Status {
        v1::Run run;
        if (!run.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
        for (auto& w : RunIndexWrites(run)) m->writes.push_back(std::move(w));
        if (!IsTerminalRun(run.state())) open.push_back({NumberOf(name), name, run.workspace()});
        return absl::OkStatus();
      },
      &runs));
  RETURN_IF_ERROR(index(
      kPullRequestKind,
      [](const std::string& name, const std::string& value, core::Mutation* m) -> absl::Status {
        v1::PullRequest pr;
        if (!pr.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
        for (auto& w : PullRequestIndexWrites(pr)) m->writes.push_back(std::move(w));
        return absl::OkStatus();
      },
      &prs));
  // The unfinished runs' jobs, oldest first, so that they are claimed (and
  // a workspace's runs resume) in the order they were submitted. An enqueue
  // is de-duplicated by key: a start that stopped halfway can repeat this.
  std::sort(open.begin(), open.end(), [](const Open& a, const Open& b) { return a.number < b.number; });
  for (size_t i = 0; i < open.size(); i += kUpgradePage) {
    core::Mutation m;
    for (size_t j = i; j < std::min(open.size(), i + kUpgradePage); ++j) {
      m.jobs.push_back(core::JobWrite::Enqueue(kRunJobKind, open[j].name, open[j].workspace));
    }
    RETURN_IF_ERROR(store_->Commit(std::move(m)).status());
  }
  core::Mutation done;
  done.writes.push_back({kUpgradeKind, kUpgradeRunJobs, "1", false});
  RETURN_IF_ERROR(store_->Commit(std::move(done)).status());
  if (runs > 0 || prs > 0) {
    log::Info("resourcing: runs and pull requests indexed, unfinished runs made jobs",
              {{"runs", runs}, {"pull_requests", prs}, {"unfinished_runs", static_cast<int64_t>(open.size())}});
  }
  return absl::OkStatus();
}

}  // namespace switchboard::resourcing
