// Git behaviour at the engine level (no gRPC): a push that loses a race is
// fetched, rebased and retried; a git:// remote served by `git daemon`; and
// the real switchboardd killed with SIGKILL mid-run and restarted: every run
// ends, with no duplicate commits.

#include <gtest/gtest.h>

#include <filesystem>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "server/resourcing/engine.h"
#include "server/resourcing/git_repo.h"
#include "tests/resourcing/resourcing_test_support.h"
#include "tests/core/free_port.h"

namespace switchboard {
namespace {

using resourcing::GitRepo;
using testing::FishRequest;
using testing::FreePort;
using testing::Proc;
using testing::Spawn;
using testing::TempDir;
using testing::WaitFor;

std::unique_ptr<GitRepo> View(const std::string& url, const std::string& dir) {
  auto repo = GitRepo::OpenMirror(dir, url, "");
  EXPECT_TRUE(repo.ok()) << repo.status();
  EXPECT_TRUE((*repo)->Fetch().ok());
  return std::move(*repo);
}

TEST(ResourcingGit, PushThatLosesARaceIsRebasedAndRetried) {
  TempDir dir, scratch;
  auto store = core::OpenSqliteStore({dir.path() + "/db", 1024, 2});
  ASSERT_TRUE(store.ok());
  resourcing::ResourcingOptions o;
  o.work_dir = dir.path() + "/resourcing";
  o.modules_seed_dir = SB_EXAMPLES_MODULES_DIR;
  o.approval_overrides["new-workspace-template"] = v1::NO_APPROVAL;
  const std::string infra = o.work_dir + "/remotes/infra.git";
  std::atomic<int> pushes{0};
  std::string racer_commit;
  o.before_push = [&](const std::string& branch) {
    if (pushes++ > 0) return;
    // Someone else lands a commit on main between our fetch and our push.
    auto other = View(infra, scratch.path() + "/other");
    auto main = other->BranchCommit(branch);
    auto c = other->CommitFiles(**main, {{"docs/race.md", "first\n"}}, {"Other", "o@x.ca"}, "racing change");
    ASSERT_TRUE(c.ok() && c->has_value());
    racer_commit = **c;
    ASSERT_TRUE(other->Push(racer_commit, branch).ok());
  };
  auto executor = testing::DefaultExecutor();
  auto engine = resourcing::ResourcingEngine::Start(store->get(), executor.get(), o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  Principal admin{"tester", Role::kAdmin, false};
  auto run = testing::Await<v1::Run>(
      [&](auto done) { (*engine)->SubmitRun(admin, FishRequest("race"), std::move(done)); });
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(WaitFor([&] {
    auto r = (*engine)->GetRun(run->name());
    return r.ok() && r->state() == v1::Run::PIPELINE_RUNNING;  // no pipeline configured: landed
  }));
  EXPECT_EQ(pushes.load(), 2) << "one rejected push, one retry";
  auto r = (*engine)->GetRun(run->name());
  ASSERT_EQ(r->commits_size(), 1);
  auto view = View(infra, scratch.path() + "/view");
  auto log = view->Log(**view->BranchCommit("main"), 10);
  ASSERT_TRUE(log.ok());
  ASSERT_GE(log->size(), 3u);
  EXPECT_EQ((*log)[0], r->commits(0)) << "our commit on top";
  EXPECT_EQ((*log)[1], racer_commit) << "rebased onto the racing change, which is kept";
  EXPECT_TRUE(*view->HasPath((*log)[0], "docs/race.md"));
  (*engine)->Stop();
  (*store)->Close();
}


TEST(ResourcingGit, GitDaemonRemote) {
  TempDir dir, remotes, scratch;
  const std::string infra = remotes.path() + "/infra.git";
  ASSERT_TRUE(GitRepo::InitSeededBare(infra, "main", "", {{"README.md", "infra\n"}}, {"t", "t@x.ca"}).ok());
  int port = FreePort();
  auto daemon = Spawn({"git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1",
                       "--port=" + std::to_string(port), "--base-path=" + remotes.path(), remotes.path()},
                      scratch.path() + "/daemon.log");
  const std::string url = "git://127.0.0.1:" + std::to_string(port) + "/infra.git";
  ASSERT_TRUE(WaitFor([&] {
    auto probe = GitRepo::OpenMirror(scratch.path() + "/probe.git", url, "");
    return probe.ok() && (*probe)->Fetch().ok();
  }, 10)) << daemon->Log();
  testing::TestServer ts(dir.path(), testing::ConfigWith(
      R"({"infra_url": ")" + url + R"(", "approval": {"new-workspace-template": "none"}})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  grpc::ClientContext ctx;
  v1::Run run;
  ASSERT_TRUE(stub->SubmitRun(&ctx, FishRequest("gd"), &run).ok());
  ASSERT_TRUE(WaitFor([&] { return testing::GetRunOrDie(*stub, run.name()).state() == v1::Run::SUCCEEDED; }))
      << testing::GetRunOrDie(*stub, run.name()).DebugString();
  auto view = View(infra, scratch.path() + "/view");  // the daemon's repository itself
  EXPECT_TRUE(*view->HasPath(**view->BranchCommit("main"), "terraform/projects/FISH/new-workspace-template.auto.tfvars.json"));
  daemon->Kill();
}

std::string AddressOf(const Proc& p) {
  std::regex re("\"grpc_address\":\"([^\"]+)\"");
  for (int i = 0; i < 100; ++i) {
    std::smatch m;
    std::string log = p.Log();
    if (std::regex_search(log, m, re)) return m[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

TEST(ResourcingGit, Kill9MidRunThenRestartFinishesEveryRunWithoutDuplicateCommits) {
  const std::vector<std::string> acronyms = {"AA", "BB", "CC", "DD", "EE", "FF"};
  for (int delay_ms : {5, 40, 120}) {
    TempDir dir;
    const std::string cfg = dir.path() + "/cfg.json";
    std::ofstream(cfg) << R"({"resourcing": {"approval": {"new-workspace-template": "none"}, "workers": 3}})";
    const std::vector<std::string> args = {SWITCHBOARDD_PATH, "--data_dir=" + dir.path() + "/data",
                                           "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0",
                                           "--config=" + cfg};
    std::vector<std::string> names;
    {
      auto p = Spawn(args, dir.path() + "/a.log");
      std::string address = AddressOf(*p);
      ASSERT_FALSE(address.empty()) << p->Log();
      auto stub = v1::ResourcingService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
      for (const auto& a : acronyms) {
        grpc::ClientContext ctx;
        v1::Run run;
        ASSERT_TRUE(stub->SubmitRun(&ctx, FishRequest("k9-" + a, "templates/new-workspace-template", a), &run).ok());
        names.push_back(run.name());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      p->Kill();  // SIGKILL: no drain
    }
    auto p = Spawn(args, dir.path() + "/b.log");
    std::string address = AddressOf(*p);
    ASSERT_FALSE(address.empty()) << p->Log();
    auto stub = v1::ResourcingService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    for (const auto& n : names) {
      ASSERT_TRUE(WaitFor([&] { return testing::GetRunOrDie(*stub, n).state() == v1::Run::SUCCEEDED; }, 60))
          << "delay " << delay_ms << ": " << testing::GetRunOrDie(*stub, n).DebugString() << p->Log();
    }
    TempDir scratch;
    auto view = View(dir.path() + "/data/resourcing/remotes/infra.git", scratch.path() + "/v");
    auto log = view->Log(**view->BranchCommit("main"), 1000);
    ASSERT_TRUE(log.ok());
    int template_commits = 0;
    for (const auto& c : *log) {
      if (view->CommitInfo(c)->second == "Committing new-workspace-template changes") ++template_commits;
    }
    EXPECT_EQ(template_commits, static_cast<int>(acronyms.size())) << "delay " << delay_ms;
    for (const auto& a : acronyms) EXPECT_TRUE(*view->HasPath(**view->BranchCommit("main"), "terraform/projects/" + a));
  }
}

// A process killed mid-push leaves refs/heads/main.lock in the embedded
// remote (and locks in the mirrors); the next start clears them, so the
// push works instead of failing "failed to lock file".
TEST(ResourcingGit, LocksACrashLeftInTheEmbeddedRepositoriesAreClearedAtStart) {
  TempDir dir;
  const std::string cfg = dir.path() + "/cfg.json";
  std::ofstream(cfg) << R"({"resourcing": {"approval": {"new-workspace-template": "none"}}})";
  const std::vector<std::string> args = {SWITCHBOARDD_PATH, "--data_dir=" + dir.path() + "/data",
                                         "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0",
                                         "--config=" + cfg};
  {
    auto p = Spawn(args, dir.path() + "/a.log");
    ASSERT_FALSE(AddressOf(*p).empty()) << p->Log();
    p->Kill();
  }
  const std::string remote_lock = dir.path() + "/data/resourcing/remotes/infra.git/refs/heads/main.lock";
  const std::string mirror_lock = dir.path() + "/data/resourcing/mirrors/infra.git/packed-refs.lock";
  std::ofstream(remote_lock) << "0000000000000000000000000000000000000000\n";
  std::ofstream(mirror_lock) << "";
  ASSERT_TRUE(std::filesystem::exists(remote_lock));
  auto p = Spawn(args, dir.path() + "/b.log");
  std::string address = AddressOf(*p);
  ASSERT_FALSE(address.empty()) << p->Log();
  EXPECT_FALSE(std::filesystem::exists(remote_lock));
  EXPECT_FALSE(std::filesystem::exists(mirror_lock));
  auto stub = v1::ResourcingService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::Run run;
  ASSERT_TRUE(stub->SubmitRun(&ctx, FishRequest("after-lock", "templates/new-workspace-template", "LK"), &run).ok());
  EXPECT_TRUE(WaitFor([&] { return testing::GetRunOrDie(*stub, run.name()).state() == v1::Run::SUCCEEDED; }, 60))
      << testing::GetRunOrDie(*stub, run.name()).DebugString() << p->Log();
  EXPECT_NE(p->Log().find("removed a git lock left by an earlier crash"), std::string::npos);
}

}  // namespace
}  // namespace switchboard
