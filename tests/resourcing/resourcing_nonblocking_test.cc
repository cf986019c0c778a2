// A slow git push does not delay unrelated RPCs (issue 21). The
// infrastructure remote is served by `git daemon`, whose pre-receive hook
// holds every push until the test lets it go. While a run's push is provably
// held (the hook has started and not finished), other calls answer: reads,
// and a SubmitRun for another workspace, whose commit needs no git. Only
// once they have answered is the push released. Had any of them waited for
// the push, it would end DEADLINE_EXCEEDED instead (the hook holds on for
// longer than the calls' deadline), so the test asserts on order, not on
// timings. An approval, whose merge is git work on the same repository,
// waits behind the push on the repository's strand (without a thread) and
// completes once the push is let go.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "server/resourcing/git_repo.h"
#include "tests/core/free_port.h"
#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard {
namespace {

using resourcing::GitRepo;
using testing::FishRequest;
using testing::TempDir;
using testing::WaitFor;

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

std::unique_ptr<grpc::ClientContext> Within(int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

TEST(ResourcingNonBlocking, SlowPushDoesNotDelayUnrelatedCalls) {
  TempDir dir, remotes, scratch;
  const std::string infra = remotes.path() + "/infra.git";
  ASSERT_TRUE(GitRepo::InitSeededBare(infra, "main", "", {{"README.md", "infra\n"}}, {"t", "t@x.ca"}).ok());
  const std::string started = scratch.path() + "/push-started";
  const std::string release = scratch.path() + "/release";
  const std::string finished = scratch.path() + "/push-finished";
  // Holds each push until `release` exists (at most 120 s, far beyond the
  // calls' 30 s deadline below).
  std::filesystem::create_directories(infra + "/hooks");
  const std::string hook = infra + "/hooks/pre-receive";
  std::ofstream(hook) << "#!/bin/sh\n"
                         "cat >/dev/null\n"
                         "touch '" << started << "'\n"
                         "i=0\n"
                         "while [ ! -e '" << release << "' ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done\n"
                         "touch '" << finished << "'\n";
  ASSERT_EQ(chmod(hook.c_str(), 0755), 0);

  const int port = testing::FreePort();
  auto daemon = testing::Spawn({"git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
                                "--listen=127.0.0.1", "--port=" + std::to_string(port),
                                "--base-path=" + remotes.path(), remotes.path()},
                               scratch.path() + "/daemon.log");
  const std::string url = "git://127.0.0.1:" + std::to_string(port) + "/infra.git";
  ASSERT_TRUE(WaitFor([&] {
    auto probe = GitRepo::OpenMirror(scratch.path() + "/probe.git", url, "");
    return probe.ok() && (*probe)->Fetch().ok();
  }, 10)) << daemon->Log();

  testing::TestServer ts(dir.path(), testing::ConfigWith(R"({"infra_url": ")" + url +
                                                         R"(", "pipeline_command": [],)"
                                                         R"( "approval": {"new-workspace-template": "required"}})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());

  // First, with the hook open, a run that leaves a pull request to approve.
  std::ofstream(release) << "go\n";
  v1::Run waiting;
  {
    auto ctx = Within(30);
    ASSERT_TRUE(stub->SubmitRun(ctx.get(), FishRequest("pr", "templates/new-workspace-template", "PRWS"),
                                &waiting).ok());
  }
  ASSERT_TRUE(WaitFor([&] {
    return testing::GetRunOrDie(*stub, waiting.name()).state() == v1::Run::AWAITING_APPROVAL;
  }, 60)) << testing::GetRunOrDie(*stub, waiting.name()).DebugString() << daemon->Log();
  const std::string pr = testing::GetRunOrDie(*stub, waiting.name()).pull_request();
  ASSERT_FALSE(pr.empty());
  // Close the hook again.
  std::filesystem::remove(release);
  std::filesystem::remove(started);
  std::filesystem::remove(finished);

  v1::Run slow;
  {
    auto ctx = Within(30);
    ASSERT_TRUE(stub->SubmitRun(ctx.get(), FishRequest("slow-push", "templates/new-workspace-template", "SLOW"),
                                &slow).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return Exists(started); }, 60)) << "the run's push reached the remote's hook";
  ASSERT_FALSE(Exists(finished));

  // The push is held. An approval queues behind it on the repository's strand.
  grpc::ClientContext approve_ctx;
  approve_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  v1::ApprovePullRequestRequest approve;
  approve.set_name(pr);
  approve.set_request_id("approve-behind-push");
  v1::PullRequest approved;
  std::atomic<bool> approve_done{false};
  grpc::Status approve_status;
  stub->async()->ApprovePullRequest(&approve_ctx, &approve, &approved, [&](grpc::Status s) {
    approve_status = s;
    approve_done = true;
  });

  // Unrelated calls answer meanwhile.
  {
    auto ctx = Within(30);
    v1::GetWorkspaceRequest req;
    req.set_name("workspaces/SLOW");
    v1::Workspace ws;
    grpc::Status s = stub->GetWorkspace(ctx.get(), req, &ws);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    EXPECT_EQ(ws.last_run(), slow.name());
  }
  v1::Run other;
  {
    auto ctx = Within(30);
    grpc::Status s = stub->SubmitRun(ctx.get(), FishRequest("other", "templates/new-workspace-template", "QUICK"),
                                     &other);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    EXPECT_EQ(other.workspace(), "workspaces/QUICK");
  }
  {
    auto ctx = Within(30);
    v1::GetRunRequest req;
    req.set_name(slow.name());
    v1::Run run;
    grpc::Status s = stub->GetRun(ctx.get(), req, &run);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    EXPECT_EQ(run.state(), v1::Run::APPLYING) << "still pushing";
  }
  {
    auto ctx = Within(30);
    v1::ListRunsResponse runs;
    grpc::Status s = stub->ListRuns(ctx.get(), v1::ListRunsRequest(), &runs);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    EXPECT_EQ(runs.runs_size(), 3);
  }
  EXPECT_FALSE(Exists(finished)) << "every call above answered while the push was held";
  EXPECT_FALSE(approve_done.load()) << "the merge waits for the push on the repository's strand";
  EXPECT_EQ(testing::GetRunOrDie(*stub, slow.name()).state(), v1::Run::APPLYING);

  std::ofstream(release) << "go\n";
  ASSERT_TRUE(WaitFor([&] { return approve_done.load(); }, 60));
  EXPECT_TRUE(approve_status.ok()) << approve_status.error_code() << " " << approve_status.error_message();
  EXPECT_EQ(approved.state(), v1::PullRequest::MERGED);
  EXPECT_TRUE(Exists(finished));
  // The git work ran on the executor's git pool, which /metrics shows.
  const std::string metrics = testing::AdminMetrics(ts.server().http_address());
  EXPECT_GE(testing::MetricSample(metrics, "switchboard_executor_tasks_total{pool=\"git\"}"), 3) << metrics;
  EXPECT_EQ(testing::MetricSample(metrics, "switchboard_executor_threads{pool=\"git\"}"), 2) << metrics;
  for (const auto& name : {slow.name(), other.name()}) {
    EXPECT_TRUE(WaitFor([&] { return testing::GetRunOrDie(*stub, name).state() == v1::Run::AWAITING_APPROVAL; },
                        60))
        << testing::GetRunOrDie(*stub, name).DebugString() << daemon->Log();
  }
  ts.Shutdown();
  daemon->Kill();
}

}  // namespace
}  // namespace switchboard
