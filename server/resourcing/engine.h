#pragma once
// The resourcing engine, free of gRPC: records runs and workspaces, drives
// each run through git (GitOps), pull requests and the pipeline, and applies
// status reports. Every state change is one store transaction that also
// appends the events watchers see; every step is checkpointed so that a
// restart carries unfinished runs on (see docs/resourcing.md).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "server/resourcing/options.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

class GitRepo;
class PipelineRunner;
class PullRequestProvider;

class ResourcingEngine {
 public:
  // Prepares the repositories (creating the embedded remotes when none are
  // configured) and starts the workers; unfinished runs are picked up again.
  static absl::StatusOr<std::unique_ptr<ResourcingEngine>> Start(core::Store* store, ResourcingOptions options);
  ~ResourcingEngine();

  // Validates (docs/wire-formats.md section 1), records the run, the workspace and one
  // REQUESTED status per template, and queues the run. A repeat of
  // request_id returns the same run as it is now, marked replayed (as is
  // every answer of a mutating call that an earlier request_id gave).
  core::Reply<v1::Run> SubmitRun(const Principal& caller, v1::SubmitRunRequest request);
  absl::StatusOr<v1::Run> GetRun(absl::string_view name) const;
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request) const;
  // Sensitive outputs are redacted unless `reveal_sensitive`.
  absl::StatusOr<v1::Workspace> GetWorkspace(absl::string_view name, bool reveal_sensitive) const;
  absl::StatusOr<v1::ListWorkspacesResponse> ListWorkspaces(const v1::ListWorkspacesRequest& request,
                                                            bool reveal_sensitive) const;

  absl::StatusOr<v1::PullRequest> GetPullRequest(absl::string_view name) const;
  absl::StatusOr<v1::ListPullRequestsResponse> ListPullRequests(const v1::ListPullRequestsRequest& request) const;
  // Merges into main and starts the pipeline. Caller must be an admin.
  core::Reply<v1::PullRequest> ApprovePullRequest(const Principal& caller,
                                                  const v1::ApprovePullRequestRequest& request);
  core::Reply<v1::PullRequest> AbandonPullRequest(const Principal& caller,
                                                  const v1::AbandonPullRequestRequest& request);

  // Applies a `terraform output -json` map. Repeats change nothing; a repeat
  // of request_id gets the first answer.
  core::Reply<v1::ReportPipelineOutputsResponse> ReportPipelineOutputs(
      const v1::ReportPipelineOutputsRequest& request, bool reveal_sensitive);

  // Stops the workers; runs in flight stop at their next checkpoint.
  void Stop();

  const ResourcingOptions& options() const { return options_; }

 private:
  struct Queued {
    std::string run;
    std::string workspace;
  };

  ResourcingEngine(core::Store* store, ResourcingOptions options);
  absl::Status OpenRepositories();
  void Enqueue(const std::string& run, const std::string& workspace, int64_t delay_ms = 0);
  void WorkerLoop();
  absl::Status Recover();

  // run_worker.cc: one pass of a run from its last checkpoint.
  void ProcessRun(const std::string& name);
  // Copies, commits and pushes; then opens the PR or starts the pipeline.
  absl::Status ApplyRun(v1::Run run);
  absl::Status RunPipeline(v1::Run run);
  // Marks the run and its unfinished templates FAILED.
  absl::Status FailRun(const std::string& name, const absl::Status& why);
  // Records a retryable failure and schedules the next attempt.
  absl::Status RetryLater(const std::string& name, const absl::Status& why);
  // pull_requests.cc
  absl::Status OpenOrReusePullRequest(const v1::Run& run, const std::vector<v1::TemplateStatus>& templates);
  // report: applies inside a transaction and finishes runs whose templates
  // all reached an end. With a `scope`, idempotent on (scope, request_id).
  core::Reply<v1::ReportPipelineOutputsResponse> ApplyReportTxn(const v1::ReportPipelineOutputsRequest& request,
                                                                const std::string& run_for_events,
                                                                const std::string& scope = "");
  // Whether `request_id` was already answered in `scope` (pull request calls
  // that find nothing left to do); records it if not.
  absl::StatusOr<bool> AnsweredBefore(const std::string& scope, const std::string& request_id,
                                      const std::string& fingerprint);

  core::Store* store_;
  ResourcingOptions options_;
  std::unique_ptr<GitRepo> infra_;
  std::unique_ptr<GitRepo> modules_;
  std::unique_ptr<PipelineRunner> pipeline_;
  std::unique_ptr<PullRequestProvider> prs_;
  // Held across every fetch-commit-push (or fetch-merge-push) sequence on
  // the infrastructure repository, and across modules fetches.
  std::mutex infra_write_mu_;
  std::mutex modules_mu_;
  std::atomic<bool> stop_flag_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  // Runs ready to go, and runs waiting for a retry time (steady ms).
  std::deque<Queued> ready_;
  std::multimap<int64_t, Queued> delayed_;
  // Workspaces with a run being worked on: their other runs wait.
  std::set<std::string> busy_workspaces_;
  std::vector<std::thread> workers_;
};

}  // namespace switchboard::resourcing
