// Resourcing runs as jobs ("resourcing.run", server/resourcing/run_jobs.h),
// at the engine level over real git repositories: a run interrupted at a
// checkpoint resumes through its job at the next start; a holder whose
// lease was taken over writes nothing more and cannot complete the run; the
// calls that end a run complete its job; and a data dir that predates run
// jobs gets them (and the listing indexes) at start.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "common/wait.h"
#include "server/core/job_queue.h"
#include "server/resourcing/engine.h"
#include "server/resourcing/names.h"
#include "server/resourcing/validation.h"
#include "tests/resourcing/resourcing_test_support.h"
#include "tests/core/store_jobs.h"

namespace switchboard {
namespace {

namespace fs = std::filesystem;
using testing::Await;
using testing::FishRequest;
using testing::TempDir;
using testing::WaitFor;

const Principal kAdmin{"tester", Role::kAdmin, false};

// A pipeline whose output reports the workspace template Completed.
const char kCompletedOutput[] = R"({"new_workspace_template_status":{"value":"Completed","type":"string"}})";

struct JobRow {
  int64_t id = 0;
  int state = -1;  // -1: no such job
  std::string owner;
  int64_t token = 0;
  int attempts = 0;
  std::string payload;
};

// The resourcing.run job of `run`, read from the database file.
JobRow JobOf(const std::string& db_path, const std::string& run) {
  std::vector<core::Job> jobs = testing::JobsInSqlite(db_path, "resourcing.run", run);
  JobRow row;
  if (!jobs.empty()) {
    const core::Job& j = jobs.back();
    row.id = j.id;
    row.state = static_cast<int>(j.state);
    row.owner = j.lease.owner;
    row.token = j.lease.token;
    row.attempts = j.attempts;
    row.payload = j.payload;
  }
  return row;
}

int64_t CountRunJobs(const std::string& db_path) {
  return static_cast<int64_t>(testing::JobsInSqlite(db_path, "resourcing.run").size());
}

constexpr int kRunning = static_cast<int>(core::JobState::kRunning);
constexpr int kReady = static_cast<int>(core::JobState::kReady);
constexpr int kDone = static_cast<int>(core::JobState::kDone);

resourcing::ResourcingOptions Options(const TempDir& dir, const std::string& replica, bool approval = false) {
  resourcing::ResourcingOptions o;
  o.work_dir = dir.path() + "/resourcing";
  o.modules_seed_dir = SB_EXAMPLES_MODULES_DIR;
  if (!approval) o.approval_overrides["new-workspace-template"] = v1::NO_APPROVAL;
  o.replica_id = replica;
  return o;
}

// One engine over one store, stopped (engine, then store) when destroyed.
struct Engine {
  std::unique_ptr<core::Store> store;
  std::unique_ptr<core::Executor> executor;
  std::unique_ptr<resourcing::ResourcingEngine> engine;

  Engine(const std::string& db, resourcing::ResourcingOptions o) {
    auto s = core::OpenSqliteStore({db, 1024, 2});
    EXPECT_TRUE(s.ok()) << s.status();
    store = std::move(*s);
    executor = testing::DefaultExecutor();
    auto e = resourcing::ResourcingEngine::Start(store.get(), executor.get(), std::move(o));
    EXPECT_TRUE(e.ok()) << e.status();
    if (e.ok()) engine = std::move(*e);
  }
  ~Engine() {
    if (engine) engine->Stop();
    engine.reset();
    executor.reset();
    store->Close();
  }
  v1::Run Submit(const v1::SubmitRunRequest& req) {
    auto run = Await<v1::Run>([&](auto done) { engine->SubmitRun(kAdmin, req, std::move(done)); });
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::Run();
  }
  v1::Run Get(const std::string& name) {
    auto run = engine->GetRun(name);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::Run();
  }
  bool WaitState(const std::string& name, v1::Run::State want, double seconds = 30) {
    return WaitFor([&] { return Get(name).state() == want; }, seconds);
  }
};

std::vector<std::string> Shell(const std::string& script) { return {"/bin/sh", "-c", script}; }

TEST(ResourcingJobs, RunInterruptedAtACheckpointResumesThroughItsJob) {
  TempDir dir;
  const std::string db = dir.path() + "/db";
  const std::string started = dir.path() + "/pipeline-started";
  std::string name;
  {
    // The first process: the run gets to its pipeline checkpoint, and the
    // process goes away there (the pipeline is killed).
    auto o = Options(dir, "first-replica");
    o.pipeline_command = Shell("touch '" + started + "'; sleep 60");
    Engine first(db, o);
    v1::Run run = first.Submit(FishRequest("checkpoint"));
    name = run.name();
    JobRow job = JobOf(db, name);
    EXPECT_EQ(job.state, kRunning) << "enqueued claimed, with the run";
    EXPECT_EQ(job.owner, "first-replica");
    EXPECT_EQ(job.payload, "workspaces/FISH");
    ASSERT_TRUE(WaitFor([&] { return fs::exists(started); })) << first.Get(name).DebugString();
    v1::Run at = first.Get(name);
    ASSERT_EQ(at.state(), v1::Run::PIPELINE_RUNNING);
    ASSERT_EQ(at.commits_size(), 1);
  }
  JobRow left = JobOf(db, name);
  EXPECT_EQ(left.state, kRunning) << "the interrupted run's job is unfinished, its lease with the gone process";
  EXPECT_EQ(left.owner, "first-replica");
  EXPECT_EQ(left.token, 1);

  // The next start claims the job and carries the run on from its
  // checkpoint: the pipeline runs; nothing is applied again.
  auto o = Options(dir, "second-replica");
  o.pipeline_command = Shell(std::string("printf '%s' '") + kCompletedOutput + "'");
  Engine second(db, o);
  ASSERT_TRUE(second.WaitState(name, v1::Run::SUCCEEDED)) << second.Get(name).DebugString();
  v1::Run done = second.Get(name);
  EXPECT_EQ(done.commits_size(), 1) << "no second commit";
  EXPECT_EQ(done.attempts(), 1) << "resumed at the pipeline, not applied again";
  JobRow job = JobOf(db, name);
  EXPECT_EQ(job.state, kDone) << "completed with the run's end";
  EXPECT_EQ(job.attempts, 2) << "claimed once by each process";
  EXPECT_EQ(job.token, 2);
  EXPECT_EQ(CountRunJobs(db), 1);
}

TEST(ResourcingJobs, AHolderWhoseLeaseWasTakenOverWritesNothingAndCannotCompleteTheRun) {
  TempDir dir;
  const std::string db = dir.path() + "/db";
  const std::string started = dir.path() + "/pipeline-started";
  const std::string go = dir.path() + "/go";
  // A short lease that this engine never renews by itself (a long tick):
  // while its pipeline runs, the lease lapses and someone else claims it.
  auto o = Options(dir, "slow-holder");
  o.job_lease = absl::Milliseconds(300);
  o.job_tick = absl::Hours(1);
  o.pipeline_command = Shell("touch '" + started + "'; while [ ! -e '" + go + "' ]; do sleep 0.05; done; printf '%s' '" +
                             kCompletedOutput + "'");
  std::atomic<int> passes{0};
  o.after_pass = [&](const std::string&) { ++passes; };
  Engine holder(db, o);
  v1::Run run = holder.Submit(FishRequest("taken-over"));
  ASSERT_TRUE(WaitFor([&] { return fs::exists(started); })) << holder.Get(run.name()).DebugString();

  // Another replica claims the job once the lease has lapsed.
  std::optional<core::Job> taken;
  ASSERT_TRUE(WaitFor([&] {
    auto got = Wait<std::vector<core::Job>>([&](auto done) {
      holder.store->jobs().Claim(resourcing::kRunJobKind, "other-replica", 1, absl::Seconds(60), std::move(done));
    });
    EXPECT_TRUE(got.ok()) << got.status();
    if (got.ok() && !got->empty()) taken = got->front();
    return taken.has_value();
  }, 10));
  EXPECT_EQ(taken->key, run.name());
  EXPECT_EQ(taken->lease.token, 2);

  // The old holder's pipeline ends; its report would end the run, but its
  // lease is gone: nothing it writes lands, and the pass stops.
  std::ofstream(go) << "";
  ASSERT_TRUE(WaitFor([&] { return passes.load() == 1; }));
  v1::Run after = holder.Get(run.name());
  EXPECT_EQ(after.state(), v1::Run::PIPELINE_RUNNING) << after.DebugString();
  ASSERT_EQ(after.templates_size(), 1);
  EXPECT_EQ(after.templates(0).status(), v1::IN_PROGRESS) << "the stale report was not applied";
  auto ws = holder.engine->GetWorkspace("workspaces/FISH", true);
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(ws->templates(0).status(), v1::IN_PROGRESS);
  JobRow job = JobOf(db, run.name());
  EXPECT_EQ(job.state, kRunning) << "not completed by the old holder";
  EXPECT_EQ(job.owner, "other-replica");
  EXPECT_EQ(job.token, 2);

  // Its completion with the old lease is refused; the new holder's is not.
  auto stale = Wait<core::JobLease>([&](auto done) {
    core::JobLease old = taken->lease;
    old.owner = "slow-holder";
    old.token = 1;
    holder.store->jobs().Write(core::JobWrite::Complete(old), std::move(done));
  });
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  auto fresh = Wait<core::JobLease>(
      [&](auto done) { holder.store->jobs().Write(core::JobWrite::Complete(taken->lease), std::move(done)); });
  EXPECT_TRUE(fresh.ok()) << fresh.status();
}

TEST(ResourcingJobs, AnExternalReportEndsTheRunAndCompletesItsJob) {
  TempDir dir;
  const std::string db = dir.path() + "/db";
  Engine e(db, Options(dir, "replica"));  // no pipeline: an external one reports
  v1::Run run = e.Submit(FishRequest("external"));
  ASSERT_TRUE(e.WaitState(run.name(), v1::Run::PIPELINE_RUNNING));
  EXPECT_EQ(JobOf(db, run.name()).state, kRunning) << "held while the run waits for the report";
  v1::ReportPipelineOutputsRequest report;
  report.set_request_id("report-1");
  (*report.mutable_outputs())["project_cd"].mutable_value()->set_string_value("FISH");
  (*report.mutable_outputs())["new_workspace_template_status"].mutable_value()->set_string_value("Completed");
  auto applied = Await<v1::ReportPipelineOutputsResponse>(
      [&](auto done) { e.engine->ReportPipelineOutputs(report, false, std::move(done)); });
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(e.Get(run.name()).state(), v1::Run::SUCCEEDED);
  EXPECT_EQ(JobOf(db, run.name()).state, kDone) << "completed in the report's transaction";
}

// A data dir of a release before run jobs and the listing indexes: runs and
// pull requests recorded, no jobs.
void WriteOldDataDir(const std::string& db) {
  auto store = core::OpenSqliteStore({db, 1024, 2});
  ASSERT_TRUE(store.ok()) << store.status();
  core::Mutation m;
  // The log is past what the records are named after.
  for (int i = 0; i < 1000; ++i) m.events.push_back({"resourcing", "run", "runs/0", "", ""});
  auto put = [&m](const std::string& kind, const std::string& name, const google::protobuf::Message& v) {
    m.writes.push_back({kind, name, v.SerializeAsString(), false});
  };
  for (int i = 1; i <= 600; ++i) {
    v1::Run run;
    run.set_name(resourcing::RunName(i));
    run.set_workspace("workspaces/GOAT");
    run.set_state(i % 2 ? v1::Run::SUCCEEDED : v1::Run::FAILED);
    put(resourcing::kRunKind, run.name(), run);
  }
  v1::SubmitRunRequest req = FishRequest("old-queued");
  ASSERT_TRUE(resourcing::ValidateAndNormalize(&req).ok());
  v1::Run queued;
  queued.set_name(resourcing::RunName(601));
  queued.set_request_id(req.request_id());
  queued.set_workspace("workspaces/FISH");
  *queued.mutable_workspace_spec() = req.workspace();
  *queued.mutable_modules() = req.modules();
  queued.set_requesting_user_email(req.requesting_user_email());
  queued.set_state(v1::Run::QUEUED);
  auto* t = queued.add_templates();
  t->set_template_("new-workspace-template");
  t->set_status(v1::REQUESTED);
  put(resourcing::kRunKind, queued.name(), queued);
  v1::Workspace fish;
  fish.set_name("workspaces/FISH");
  *fish.mutable_spec() = req.workspace();
  *fish.mutable_templates() = queued.templates();
  fish.add_open_runs(queued.name());
  fish.set_last_run(queued.name());
  put(resourcing::kWorkspaceKind, fish.name(), fish);
  for (int id : {5, 7}) {
    v1::PullRequest pr;
    pr.set_id(id);
    pr.set_name(resourcing::PullRequestName(id));
    pr.set_workspace("workspaces/GOAT");
    pr.set_state(id == 5 ? v1::PullRequest::MERGED : v1::PullRequest::ABANDONED);
    put(resourcing::kPullRequestKind, pr.name(), pr);
  }
  ASSERT_TRUE((*store)->Commit(std::move(m)).ok());
  (*store)->Close();
}

std::vector<std::string> AllRunNames(resourcing::ResourcingEngine& e, int page_size, const std::string& workspace) {
  std::vector<std::string> names;
  std::string token;
  for (int pages = 0; pages < 100; ++pages) {
    v1::ListRunsRequest req;
    req.set_page_size(page_size);
    req.set_page_token(token);
    req.set_workspace(workspace);
    auto resp = e.ListRuns(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    if (!resp.ok()) break;
    for (const auto& r : resp->runs()) names.push_back(r.name());
    token = resp->next_page_token();
    if (token.empty()) break;
  }
  return names;
}

TEST(ResourcingJobs, AnOlderDataDirsUnfinishedRunsBecomeJobsAtStartAndResume) {
  TempDir dir;
  const std::string db = dir.path() + "/db";
  WriteOldDataDir(db);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Engine e(db, Options(dir, "upgraded", /*approval=*/true));
  // The unfinished run got a job, which this replica claimed: it resumed,
  // and now waits for approval.
  ASSERT_TRUE(e.WaitState("runs/601", v1::Run::AWAITING_APPROVAL)) << e.Get("runs/601").DebugString();
  JobRow job = JobOf(db, "runs/601");
  EXPECT_EQ(job.state, kRunning);
  EXPECT_EQ(job.owner, "upgraded");
  EXPECT_EQ(job.payload, "workspaces/FISH");
  EXPECT_EQ(CountRunJobs(db), 1) << "ended runs get no job";

  // Every run is listed, newest first, across pages, with its workspace's
  // filter; the new pull request is indexed with the old ones.
  std::vector<std::string> want;
  for (int i = 601; i >= 1; --i) want.push_back(resourcing::RunName(i));
  EXPECT_EQ(AllRunNames(*e.engine, 250, ""), want);
  EXPECT_EQ(AllRunNames(*e.engine, 0, "workspaces/FISH"), std::vector<std::string>{"runs/601"});
  EXPECT_EQ(AllRunNames(*e.engine, 1000, "goat").size(), 600u);
  const std::string pr = e.Get("runs/601").pull_request();
  auto prs = e.engine->ListPullRequests(v1::ListPullRequestsRequest());
  ASSERT_TRUE(prs.ok()) << prs.status();
  ASSERT_EQ(prs->pull_requests_size(), 3);
  EXPECT_EQ(prs->pull_requests(0).name(), pr);
  EXPECT_EQ(prs->pull_requests(1).name(), "pullRequests/7");
  EXPECT_EQ(prs->pull_requests(2).name(), "pullRequests/5");

  // Abandoning the pull request ends the run, and its job with it.
  auto abandoned = Await<v1::PullRequest>([&](auto done) {
    v1::AbandonPullRequestRequest req;
    req.set_request_id("abandon-upgraded");
    req.set_name(pr);
    e.engine->AbandonPullRequest(kAdmin, req, std::move(done));
  });
  ASSERT_TRUE(abandoned.ok()) << abandoned.status();
  EXPECT_EQ(e.Get("runs/601").state(), v1::Run::FAILED);
  EXPECT_EQ(JobOf(db, "runs/601").state, kDone);
}

TEST(ResourcingJobs, TheUpgradeRunsOnceAndAJobLeftReadyIsClaimedAtStart) {
  TempDir dir;
  const std::string db = dir.path() + "/db";
  WriteOldDataDir(db);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  {
    Engine e(db, Options(dir, "first", /*approval=*/true));
    ASSERT_TRUE(e.WaitState("runs/601", v1::Run::AWAITING_APPROVAL));
  }
  EXPECT_EQ(JobOf(db, "runs/601").state, kRunning);
  // A second start finds the upgrade done, and claims the job again (the
  // store made it READY when it opened).
  Engine e(db, Options(dir, "second", /*approval=*/true));
  ASSERT_TRUE(WaitFor([&] { return JobOf(db, "runs/601").owner == "second"; })) << JobOf(db, "runs/601").owner;
  EXPECT_EQ(CountRunJobs(db), 1);
  EXPECT_EQ(AllRunNames(*e.engine, 1000, "").size(), 601u) << "indexed once";
  EXPECT_NE(JobOf(db, "runs/601").state, kReady);
}

}  // namespace
}  // namespace switchboard
