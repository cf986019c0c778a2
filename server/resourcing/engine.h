#pragma once
// The resourcing engine, free of gRPC: records runs and workspaces, drives
// each run through git (GitOps), pull requests and the pipeline, and applies
// status reports. Every state change is one store transaction that also
// appends the events watchers see; every step is checkpointed so that a
// restart carries unfinished runs on (see docs/resourcing.md).
//
// Each run is a durable job ("resourcing.run", run_jobs.h), enqueued and
// claimed here in the transaction that records the run, and completed in
// the one that records its end. Every checkpoint renews the job's lease and
// is refused when the lease was taken over, so a pass whose lease is lost
// writes nothing more. At start the engine claims the unfinished jobs: a
// run a crash or kill interrupted resumes from its last checkpoint.
//
// Nothing here blocks its caller. Mutating operations take a `done` that
// gets the answer later (Op(request, done)); they commit with
// Store::CommitAsync. Git work runs on the executor's "git" pool, through one
// strand per repository, so that writes to one repository are serialized
// without a thread waiting on a lock; other slow steps (the pipeline, reads
// after a commit) run on the "resourcing" pool. `done` runs inside the call
// only for an answer found at once (bad input); otherwise on a pool thread or
// the store's completion thread.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "server/core/executor.h"
#include "server/core/job_worker.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "server/resourcing/options.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

class GitRepo;
class PipelineRunner;
class PullRequestProvider;
class Txn;

class ResourcingEngine {
 public:
  template <class T>
  using Done = std::function<void(core::Reply<T>)>;

  // Prepares the repositories (creating the embedded remotes when none are
  // configured), gives a data dir that predates run jobs and the listing
  // indexes theirs, and claims the unfinished runs' jobs: their runs resume
  // from their checkpoints. `executor` must hold
  // the pools "git" and "resourcing" (core::DefaultPools) and outlive the
  // engine.
  static absl::StatusOr<std::unique_ptr<ResourcingEngine>> Start(core::Store* store, core::Executor* executor,
                                                                  ResourcingOptions options);
  ~ResourcingEngine();

  // Validates (docs/wire-formats.md section 1), records the run, the workspace and one
  // REQUESTED status per template, and queues the run. A repeat of
  // request_id returns the same run as it is now, marked replayed (as is
  // every answer of a mutating call that an earlier request_id gave).
  void SubmitRun(const Principal& caller, v1::SubmitRunRequest request, Done<v1::Run> done);

  // Reads, answered at once: one store read each (no git, no commit); a list
  // reads one page (core::ListPage), newest first for runs and pull requests.
  absl::StatusOr<v1::Run> GetRun(absl::string_view name) const;
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request) const;
  // Sensitive outputs are redacted unless `reveal_sensitive`.
  absl::StatusOr<v1::Workspace> GetWorkspace(absl::string_view name, bool reveal_sensitive) const;
  absl::StatusOr<v1::ListWorkspacesResponse> ListWorkspaces(const v1::ListWorkspacesRequest& request,
                                                            bool reveal_sensitive) const;
  absl::StatusOr<v1::PullRequest> GetPullRequest(absl::string_view name) const;
  absl::StatusOr<v1::ListPullRequestsResponse> ListPullRequests(const v1::ListPullRequestsRequest& request) const;

  // Merges into main (on the infrastructure repository's strand) and starts
  // the pipeline. Caller must be an admin.
  void ApprovePullRequest(const Principal& caller, v1::ApprovePullRequestRequest request,
                          Done<v1::PullRequest> done);
  void AbandonPullRequest(const Principal& caller, v1::AbandonPullRequestRequest request,
                          Done<v1::PullRequest> done);

  // Applies a `terraform output -json` map. Repeats change nothing; a repeat
  // of request_id gets the first answer.
  void ReportPipelineOutputs(v1::ReportPipelineOutputsRequest request, bool reveal_sensitive,
                             Done<v1::ReportPipelineOutputsResponse> done);

  // Refuses new calls (UNAVAILABLE), stops claiming and renewing run jobs,
  // drops the retry timers and the queued runs (their jobs stay unfinished:
  // they resume after a restart), and returns once none of this engine's
  // work is left: runs in flight stop at their next step (a pipeline is
  // killed). Idempotent; the destructor calls it. Call it before the
  // executor stops and the store closes.
  void Stop();

  const ResourcingOptions& options() const { return options_; }

 private:
  struct Queued {
    std::string run;
    std::string workspace;
  };
  // Keeps the engine from finishing Stop while a piece of its work (a run
  // pass, a call, a retry timer) is queued, running or waiting for a commit;
  // every lambda of a chain holds one. Null once stopping.
  using Hold = std::shared_ptr<void>;
  // A step's outcome, passed on to the next.
  using Next = std::function<void(absl::Status)>;
  class RunPass;  // run_worker.cc
  struct EndingJobs;  // run_jobs.cc
  // A transaction body that may end runs (TransactEnding).
  using EndingBody = std::function<absl::Status(Txn&, EndingJobs&)>;

  ResourcingEngine(core::Store* store, ResourcingOptions options);
  absl::Status OpenRepositories();

  // run_jobs.cc: the runs' jobs.
  // Once per data dir: the listing indexes of the runs and pull requests
  // recorded before they existed, and jobs for the unfinished runs among
  // them, a page per transaction.
  absl::Status UpgradeDataDir();
  // Makes the job worker and claims the unfinished jobs.
  void StartJobs();
  // A claimed job: its run goes to the queue.
  void RunClaimed(core::Job job);
  // The job write that enqueues a new run's job, claimed here.
  core::JobWrite NewRunJob(const std::string& run, const std::string& workspace) const;
  // The job write that renews `held` (a checkpoint's).
  core::JobWrite Renew(const core::JobLease& held) const;
  // Keeps the lease a commit renewed (the result's jobs[index]) alive.
  void KeepRenewed(const std::string& run, const core::CommitResult& r, size_t index);
  // Commits `body`, a transaction that may end runs: it completes the job
  // of each run it ends (EndingJobs::Ended) in the same transaction. With a
  // pass (`pass_run` and its lease), the pass's own run is written with the
  // pass's lease, and its lease is renewed if the run goes on; when that
  // lease was taken over, nothing is written (FAILED_PRECONDITION "lease
  // lost"). Other runs' jobs are completed with the leases held here; when
  // one of those was taken over, the transaction runs again without them:
  // what the call reports is recorded either way, and the job's holder
  // completes it when it next loads the run. `body` may run twice: it must
  // reset what it fills in.
  void TransactEnding(const std::string& request_id, EndingBody body,
                      std::function<void(absl::StatusOr<core::CommitResult>)> done, const std::string& scope,
                      const std::string& fingerprint, const std::string& pass_run,
                      std::optional<core::JobLease> pass_lease, bool others = true);
  Hold Acquire();
  Hold HoldLocked();  // mu_ held, not stopping
  // UNAVAILABLE while stopping, else RESOURCE_EXHAUSTED naming the pool's
  // queue_limit key: the answer when a pool or strand refuses work.
  absl::Status Refused(absl::string_view pool) const;
  // Runs `fn` on the "resourcing" pool; false (fn dropped) when refused.
  bool OnWorkPool(std::function<void()> fn);

  // Runs wait in `ready_` until a slot (options_.workers) is free and no
  // other run of their workspace is in progress.
  void Enqueue(const std::string& run, const std::string& workspace, int64_t delay_ms = 0);
  void Dispatch();
  void Finished(const std::string& workspace);

  // run_worker.cc: one pass of a run from its last checkpoint; `finished`
  // runs once it is over (whatever the outcome).
  void ProcessRun(const std::string& name, std::function<void()> finished);
  // Marks the run and its unfinished templates FAILED, and completes its
  // job with `lease` (the pass's), in one transaction.
  void FailRun(const std::string& name, const absl::Status& why, const core::JobLease& lease, Next next);
  // Records a retryable failure (renewing `lease`) and schedules the next
  // attempt.
  void RetryLater(const std::string& name, const absl::Status& why, const core::JobLease& lease, Next next);
  // pull_requests.cc (on the resourcing pool: it reads, and the provider
  // may call out). Renews the pass's `lease`.
  void OpenOrReusePullRequest(const v1::Run& run, const std::vector<v1::TemplateStatus>& templates,
                              const core::JobLease& lease, Next next);
  // report: applies inside a transaction and finishes runs whose templates
  // all reached an end, completing their jobs (TransactEnding; `pass_lease`
  // is that of the pass of `run_for_events`, when a pass reports). With a
  // `scope`, idempotent on (scope, request_id).
  void ApplyReportTxn(const v1::ReportPipelineOutputsRequest& request, const std::string& run_for_events,
                      const std::string& scope, std::optional<core::JobLease> pass_lease,
                      Done<v1::ReportPipelineOutputsResponse> done);
  // Whether `request_id` was already answered in `scope` (pull request calls
  // that find nothing left to do); records it if not.
  void AnsweredBefore(const std::string& scope, const std::string& request_id, const std::string& fingerprint,
                      std::function<void(absl::StatusOr<bool>)> done);
  // The start of closing a PR that approve (`settled` MERGED) and abandon
  // (ABANDONED) share: the caller is an admin, the request has a
  // request_id, the engine holds (*hold) and the PR `name` is read (*pr).
  // False when `done` was answered here: one of those failed, the PR is
  // already `settled` (nothing left to do: a replay if this request_id was
  // answered before), or it was closed the other way (FAILED_PRECONDITION).
  bool StartClosing(const Principal& caller, const std::string& request_id, const std::string& name,
                    v1::PullRequest::State settled, const Done<v1::PullRequest>& done, Hold* hold,
                    v1::PullRequest* pr);
  // A replayed approve or abandon: `done` gets the PR as it is now, read on
  // the resourcing pool.
  void AnswerReplayed(Hold hold, const std::string& name, Done<v1::PullRequest> done);
  // On the infrastructure strand: deletes a merged or abandoned PR's branch
  // (a failure is logged), then runs `then`.
  void DeleteBranchThen(const std::string& branch, const char* why, std::function<void()> then);

  core::Store* store_;
  ResourcingOptions options_;
  core::Pool* work_pool_ = nullptr;
  core::Pool* git_pool_ = nullptr;
  std::unique_ptr<GitRepo> infra_;
  std::unique_ptr<GitRepo> modules_;
  // Every git call on a repository goes through its strand.
  std::unique_ptr<core::Strand> infra_strand_;
  std::unique_ptr<core::Strand> modules_strand_;
  std::unique_ptr<PipelineRunner> pipeline_;
  std::unique_ptr<PullRequestProvider> prs_;
  // Claims and renews the "resourcing.run" jobs of this replica.
  std::unique_ptr<core::JobWorker> jobs_;
  std::atomic<bool> stop_flag_{false};

  // Guards what follows; never held across I/O or a call out.
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  bool stopping_ = false;
  int64_t in_flight_ = 0;
  std::deque<Queued> ready_;
  // Runs being worked on, and their workspaces (whose other runs wait).
  int running_ = 0;
  std::set<std::string> busy_workspaces_;
  std::set<core::Pool::TimerId> retry_timers_;
};

}  // namespace switchboard::resourcing
