// The issue's scenarios against a real in-process server with real git
// repositories (libgit2, file:// remotes): no-change templates, missing
// variables, unknown templates, a template before its workspace, abandoned
// PRs, merge conflicts, two workspaces at once, repeated status reports,
// symlinks in templates, an unreachable remote, and watches.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/resourcing/git_repo.h"
#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard {
namespace {

namespace fs = std::filesystem;
using resourcing::GitRepo;
using testing::FishRequest;
using testing::GetRunOrDie;
using testing::GetWorkspaceOrDie;
using testing::TempDir;
using testing::TestServer;
using testing::WaitFor;

v1::Run Submit(v1::ResourcingService::Stub& stub, const v1::SubmitRunRequest& req) {
  grpc::ClientContext ctx;
  v1::Run run;
  grpc::Status s = stub.SubmitRun(&ctx, req, &run);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return run;
}

v1::Run WaitState(v1::ResourcingService::Stub& stub, const std::string& run, v1::Run::State want) {
  WaitFor([&] { return GetRunOrDie(stub, run).state() == want; });
  return GetRunOrDie(stub, run);
}

v1::Run WaitEnd(v1::ResourcingService::Stub& stub, const std::string& run) {
  WaitFor([&] { return testing::IsTerminalRunState(GetRunOrDie(stub, run).state()); });
  return GetRunOrDie(stub, run);
}

grpc::Status Approve(v1::ResourcingService::Stub& stub, const std::string& pr, v1::PullRequest* out,
                     const std::string& id = "approve") {
  grpc::ClientContext ctx;
  v1::ApprovePullRequestRequest req;
  req.set_request_id(id + pr);
  req.set_name(pr);
  return stub.ApprovePullRequest(&ctx, req, out);
}

// Submits FishRequest(id), approves its pull request and waits for the
// run's end (its pipeline then runs).
v1::Run ApprovedToTheEnd(v1::ResourcingService::Stub& stub, const std::string& id) {
  v1::Run run = WaitState(stub, Submit(stub, FishRequest(id)).name(), v1::Run::AWAITING_APPROVAL);
  v1::PullRequest pr;
  grpc::Status s = Approve(stub, run.pull_request(), &pr);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return WaitEnd(stub, run.name());
}

// The x-switchboard-replayed trailer of a finished call ("" when absent).
std::string ReplayedTrailer(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find("x-switchboard-replayed");
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

// A mirror of `url` in `dir`, fetched.
std::unique_ptr<GitRepo> View(const std::string& url, const std::string& dir) {
  auto repo = GitRepo::OpenMirror(dir, url, "");
  EXPECT_TRUE(repo.ok()) << repo.status();
  EXPECT_TRUE((*repo)->Fetch().ok());
  return std::move(*repo);
}

std::string InfraUrl(const TempDir& data) { return data.path() + "/resourcing/remotes/infra.git"; }

// A third party pushes `files` to `branch`.
void PushAsOther(const std::string& url, const std::string& scratch, const std::string& branch,
                 const std::vector<std::pair<std::string, std::string>>& files) {
  auto view = View(url, scratch);
  auto head = view->BranchCommit(branch);
  ASSERT_TRUE(head.ok() && head->has_value());
  auto c = view->CommitFiles(**head, files, {"Other", "other@example.org"}, "a change made elsewhere");
  ASSERT_TRUE(c.ok() && c->has_value()) << c.status();
  ASSERT_TRUE(view->Push(**c, branch).ok());
}

// Brings workspace FISH to COMPLETED.
void MakeFish(v1::ResourcingService::Stub& stub) {
  v1::Run run = Submit(stub, FishRequest("make-fish"));
  run = WaitState(stub, run.name(), v1::Run::AWAITING_APPROVAL);
  v1::PullRequest pr;
  ASSERT_TRUE(Approve(stub, run.pull_request(), &pr).ok());
  ASSERT_EQ(WaitEnd(stub, run.name()).state(), v1::Run::SUCCEEDED);
}

TEST(ResourcingScenarios, TemplateWithNoChangesMakesNoCommit) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  MakeFish(*stub);
  auto before = View(InfraUrl(dir), scratch.path() + "/a")->BranchCommit("main");
  v1::Run again = WaitEnd(*stub, Submit(*stub, FishRequest("fish-again")).name());
  EXPECT_EQ(again.state(), v1::Run::SUCCEEDED) << again.DebugString();
  EXPECT_EQ(again.commits_size(), 0);
  EXPECT_TRUE(again.pull_request().empty()) << "nothing to approve";
  auto after = View(InfraUrl(dir), scratch.path() + "/b")->BranchCommit("main");
  EXPECT_EQ(**before, **after);
}

// A modules repository with the example templates plus `extra` ones.
std::string ModulesSeed(const std::string& dir,
                        const std::map<std::string, std::map<std::string, std::string>>& extra) {
  fs::copy(SB_EXAMPLES_MODULES_DIR, dir, fs::copy_options::recursive);
  for (const auto& [tmpl, files] : extra) {
    fs::create_directories(dir + "/templates/" + tmpl);
    for (const auto& [name, content] : files) std::ofstream(dir + "/templates/" + tmpl + "/" + name) << content;
  }
  return dir;
}

TEST(ResourcingScenarios, MissingVariableFailsNamingItAndConfigResolvesIt) {
  TempDir dir, seed;
  std::string modules = ModulesSeed(seed.path() + "/m", {{"needs-var", {
      {"template.json", R"({"approval": "none"})"},
      {"needs-var.variables.tf.json", R"({"variable": {"subscription_id": {"type": "string"}, "project_cd": {}}})"}}}});
  {
    TestServer ts(dir.path(), testing::ConfigWith(R"({"modules_seed_dir": ")" + modules + R"("})"));
    auto stub = v1::ResourcingService::NewStub(ts.Channel());
    MakeFish(*stub);
    v1::Run run = WaitEnd(*stub, Submit(*stub, FishRequest("nv", "needs-var")).name());
    EXPECT_EQ(run.state(), v1::Run::FAILED);
    EXPECT_NE(run.error().find("subscription_id"), std::string::npos) << run.error();
    EXPECT_EQ(run.error().find("project_cd"), std::string::npos) << "only the unresolved one is named";
    EXPECT_EQ(GetWorkspaceOrDie(*stub, "workspaces/FISH").status(), v1::FAILED);
  }
  TempDir dir2;
  TestServer ts(dir2.path(), testing::ConfigWith(R"({"modules_seed_dir": ")" + modules +
                                                 R"(", "terraform": {"variables": {"subscription_id": "sub-123"}}})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  MakeFish(*stub);
  v1::Run run = WaitEnd(*stub, Submit(*stub, FishRequest("nv", "needs-var")).name());
  ASSERT_EQ(run.state(), v1::Run::SUCCEEDED) << run.DebugString();
}

TEST(ResourcingScenarios, UnknownTemplateFailsAndWritesNothing) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  auto req = FishRequest("unknown");
  req.add_modules()->set_name("templates/no-such-template");
  v1::Run run = WaitEnd(*stub, Submit(*stub, req).name());
  EXPECT_EQ(run.state(), v1::Run::FAILED);
  EXPECT_NE(run.error().find("NOT_FOUND"), std::string::npos) << run.error();
  EXPECT_NE(run.error().find("no-such-template"), std::string::npos) << run.error();
  EXPECT_EQ(run.commits_size(), 0);
  auto view = View(InfraUrl(dir), scratch.path());
  EXPECT_FALSE(view->BranchCommit("FISH")->has_value()) << "the workspace template was not committed either";
  for (const auto& t : run.templates()) EXPECT_EQ(t.status(), v1::FAILED) << t.template_();
}

TEST(ResourcingScenarios, SecondTemplateBeforeTheWorkspaceExistsIsFailedPrecondition) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = WaitEnd(*stub, Submit(*stub, FishRequest("early", "templates/azure-storage-blob")).name());
  EXPECT_EQ(run.state(), v1::Run::FAILED);
  EXPECT_EQ(run.error().rfind("FAILED_PRECONDITION", 0), 0u) << run.error();
  EXPECT_NE(run.error().find("terraform/projects/FISH"), std::string::npos) << run.error();
}

TEST(ResourcingScenarios, AbandonedPullRequestFailsItsTemplates) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = WaitState(*stub, Submit(*stub, FishRequest("ab")).name(), v1::Run::AWAITING_APPROVAL);
  grpc::ClientContext ctx;
  v1::AbandonPullRequestRequest req;
  req.set_request_id("abandon-1");
  req.set_name(run.pull_request());
  req.set_comment("not this quarter");
  v1::PullRequest pr;
  ASSERT_TRUE(stub->AbandonPullRequest(&ctx, req, &pr).ok());
  EXPECT_EQ(pr.state(), v1::PullRequest::ABANDONED);
  run = GetRunOrDie(*stub, run.name());
  EXPECT_EQ(run.state(), v1::Run::FAILED);
  EXPECT_NE(run.error().find("not this quarter"), std::string::npos);
  EXPECT_EQ(GetWorkspaceOrDie(*stub, "workspaces/FISH").status(), v1::FAILED);
  auto view = View(InfraUrl(dir), scratch.path());
  EXPECT_FALSE(view->BranchCommit("FISH")->has_value()) << "the branch is deleted";
  EXPECT_FALSE(*view->HasPath(**view->BranchCommit("main"), "terraform/projects/FISH"));
  // Approving it now is refused.
  grpc::Status s = Approve(*stub, pr.name(), &pr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  // A new request starts a fresh PR.
  v1::Run again = WaitState(*stub, Submit(*stub, FishRequest("ab-2")).name(), v1::Run::AWAITING_APPROVAL);
  EXPECT_NE(again.pull_request(), run.pull_request());
}

TEST(ResourcingScenarios, MergeConflictLeavesThePullRequestActive) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = WaitState(*stub, Submit(*stub, FishRequest("mc")).name(), v1::Run::AWAITING_APPROVAL);
  const std::string path = "terraform/projects/FISH/new-workspace-template.auto.tfvars.json";
  PushAsOther(InfraUrl(dir), scratch.path() + "/other", "main", {{path, "{\"project_cd\": \"OTHER\"}\n"}});
  v1::PullRequest pr;
  grpc::Status s = Approve(*stub, run.pull_request(), &pr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find(path), std::string::npos) << s.error_message();
  grpc::ClientContext ctx;
  v1::GetPullRequestRequest g;
  g.set_name(run.pull_request());
  ASSERT_TRUE(stub->GetPullRequest(&ctx, g, &pr).ok());
  EXPECT_EQ(pr.state(), v1::PullRequest::ACTIVE);
  ASSERT_EQ(pr.conflicts_size(), 1);
  EXPECT_EQ(pr.conflicts(0), path);
  EXPECT_EQ(GetRunOrDie(*stub, run.name()).state(), v1::Run::AWAITING_APPROVAL);
}

TEST(ResourcingScenarios, NonConflictingMainChangeMakesAMergeCommit) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = WaitState(*stub, Submit(*stub, FishRequest("mm")).name(), v1::Run::AWAITING_APPROVAL);
  PushAsOther(InfraUrl(dir), scratch.path() + "/other", "main", {{"docs/unrelated.md", "hello\n"}});
  v1::PullRequest pr;
  ASSERT_TRUE(Approve(*stub, run.pull_request(), &pr).ok());
  auto view = View(InfraUrl(dir), scratch.path() + "/view");
  auto info = view->CommitInfo(**view->BranchCommit("main"));
  EXPECT_EQ(info->second, "Merged PR " + std::to_string(pr.id()) + ": " + pr.title());
  EXPECT_EQ(**view->BranchCommit("main"), pr.merge_commit());
  EXPECT_EQ(WaitEnd(*stub, run.name()).state(), v1::Run::SUCCEEDED);
}

TEST(ResourcingScenarios, TwoWorkspacesSubmittedAtOnce) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  std::vector<std::string> acronyms = {"FISH", "BIRD", "TREE", "ROCK"};
  std::vector<v1::Run> runs(acronyms.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < acronyms.size(); ++i) {
    threads.emplace_back([&, i] {
      auto s = v1::ResourcingService::NewStub(ts.Channel());
      runs[i] = Submit(*s, FishRequest("at-once-" + acronyms[i], "templates/new-workspace-template", acronyms[i]));
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> prs;
  for (auto& r : runs) {
    r = WaitState(*stub, r.name(), v1::Run::AWAITING_APPROVAL);
    prs.insert(r.pull_request());
  }
  EXPECT_EQ(prs.size(), acronyms.size()) << "one PR per workspace";
  for (const auto& pr : prs) {
    v1::PullRequest out;
    ASSERT_TRUE(Approve(*stub, pr, &out).ok());
  }
  for (auto& r : runs) EXPECT_EQ(WaitEnd(*stub, r.name()).state(), v1::Run::SUCCEEDED);
  auto view = View(InfraUrl(dir), scratch.path());
  auto main = view->BranchCommit("main");
  for (const auto& a : acronyms) EXPECT_TRUE(*view->HasPath(**main, "terraform/projects/" + a)) << a;
}

TEST(ResourcingScenarios, SameStatusReportTwiceChangesNothing) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(R"({"pipeline_command": []})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = WaitState(*stub, Submit(*stub, FishRequest("rep")).name(), v1::Run::AWAITING_APPROVAL);
  v1::PullRequest pr;
  ASSERT_TRUE(Approve(*stub, run.pull_request(), &pr).ok());
  // No pipeline configured: the run waits for an external report.
  EXPECT_EQ(WaitState(*stub, run.name(), v1::Run::PIPELINE_RUNNING).state(), v1::Run::PIPELINE_RUNNING);
  v1::ReportPipelineOutputsRequest req;
  req.set_request_id("r1");
  auto add = [&](const std::string& k, const std::string& v, bool sensitive = false) {
    auto& o = (*req.mutable_outputs())[k];
    o.mutable_value()->set_string_value(v);
    o.mutable_type()->set_string_value("string");
    o.set_sensitive(sensitive);
  };
  add("project_cd", "FISH");
  add("new_project_template", "Complete");
  add("azure_storage_account_key", "c2VjcmV0", true);
  v1::ReportPipelineOutputsResponse first, second;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->ReportPipelineOutputs(&ctx, req, &first).ok());
  }
  ASSERT_EQ(first.changed_size(), 1);
  EXPECT_EQ(first.changed(0).status(), v1::COMPLETED);
  EXPECT_EQ(first.workspace().status(), v1::COMPLETED);
  EXPECT_EQ(GetRunOrDie(*stub, run.name()).state(), v1::Run::SUCCEEDED);
  grpc::ClientContext lctx;
  v1::ListRunsResponse unused;
  v1::Workspace before = GetWorkspaceOrDie(*stub, "workspaces/FISH");
  req.set_request_id("r2");  // a redelivery with a new message id
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->ReportPipelineOutputs(&ctx, req, &second).ok());
    EXPECT_EQ(ReplayedTrailer(ctx), "") << "a new request_id is no replay, though it changes nothing";
  }
  EXPECT_EQ(second.changed_size(), 0);
  v1::Workspace after = GetWorkspaceOrDie(*stub, "workspaces/FISH");
  EXPECT_EQ(before.SerializeAsString(), after.SerializeAsString()) << "nothing changed, not even update_time";

  // The first request_id again: its first answer, marked as a replay.
  req.set_request_id("r1");
  {
    grpc::ClientContext rctx;
    v1::ReportPipelineOutputsResponse replayed;
    ASSERT_TRUE(stub->ReportPipelineOutputs(&rctx, req, &replayed).ok());
    EXPECT_EQ(replayed.changed_size(), 1) << "the first answer, as it was";
    EXPECT_EQ(ReplayedTrailer(rctx), "true");
  }
  // ... and with other content it is ALREADY_EXISTS, like every request_id.
  (*req.mutable_outputs())["project_cd"].mutable_value()->set_string_value("NOPE");
  {
    grpc::ClientContext rctx;
    EXPECT_EQ(stub->ReportPipelineOutputs(&rctx, req, &second).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  }

  // Unknown workspace.
  req.set_request_id("r-nope");
  grpc::ClientContext ctx;
  EXPECT_EQ(stub->ReportPipelineOutputs(&ctx, req, &second).error_code(), grpc::StatusCode::NOT_FOUND);
  // An unknown status value is kept, as UNKNOWN.
  req.set_request_id("r3");
  (*req.mutable_outputs())["project_cd"].mutable_value()->set_string_value("FISH");
  (*req.mutable_outputs())["new_project_template"].mutable_value()->set_string_value("Half Done");
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub->ReportPipelineOutputs(&ctx2, req, &second).ok());
  ASSERT_EQ(second.changed_size(), 1);
  EXPECT_EQ(second.changed(0).status(), v1::UNKNOWN);
  EXPECT_EQ(second.changed(0).raw_status(), "Half Done");
}

TEST(ResourcingScenarios, FailingPipelineKeepsTheStderrTail) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(
      R"({"pipeline_command": ["sh", "-c", "echo planning >&2; echo 'Error: quota exceeded' >&2; exit 3", "sh"]})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = ApprovedToTheEnd(*stub, "pf");
  EXPECT_EQ(run.state(), v1::Run::FAILED);
  EXPECT_NE(run.error().find("exited with 3"), std::string::npos) << run.error();
  EXPECT_NE(run.error().find("quota exceeded"), std::string::npos) << run.error();
  v1::Workspace ws = GetWorkspaceOrDie(*stub, "workspaces/FISH");
  EXPECT_EQ(ws.templates(0).status(), v1::FAILED);
  EXPECT_NE(ws.templates(0).message().find("quota exceeded"), std::string::npos);
}

// The pipeline command gets SB_PROJECT and the server's own environment
// (its PATH, here), all made before fork.
TEST(ResourcingScenarios, PipelineCommandGetsTheProjectAndTheServersEnvironment) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(
      R"({"pipeline_command": ["sh", "-c", "echo \"project=$SB_PROJECT path=$PATH\" >&2; exit 3", "sh"]})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = ApprovedToTheEnd(*stub, "pe");
  EXPECT_EQ(run.state(), v1::Run::FAILED);
  EXPECT_NE(run.error().find("project=FISH "), std::string::npos) << run.error();
  const char* path = getenv("PATH");
  ASSERT_NE(path, nullptr);
  EXPECT_NE(run.error().find(std::string("path=") + path), std::string::npos) << run.error();
}

TEST(ResourcingScenarios, SymlinkInATemplateFailsTheRun) {
  TempDir dir, mod;
  // A modules repository made with git itself (over file://), holding a
  // template whose top level has a symlink out of the tree.
  const std::string work = mod.path() + "/work";
  fs::copy(SB_EXAMPLES_MODULES_DIR, work, fs::copy_options::recursive);
  fs::create_directories(work + "/templates/evil");
  fs::create_symlink("/etc/passwd", work + "/templates/evil/passwd.tf");
  std::string cmd = "cd '" + work + "' && git init -q -b main . && git add -A && "
                    "git -c user.email=t@x.ca -c user.name=t commit -qm seed";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  TestServer ts(dir.path(), testing::ConfigWith(R"({"modules_url": "file://)" + work + R"("})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  auto req = FishRequest("evil");
  req.add_modules()->set_name("evil");
  v1::Run run = WaitEnd(*stub, Submit(*stub, req).name());
  EXPECT_EQ(run.state(), v1::Run::FAILED);
  EXPECT_NE(run.error().find("symlink"), std::string::npos) << run.error();
  EXPECT_EQ(run.commits_size(), 0);
}

TEST(ResourcingScenarios, UnreachableRemoteRetriesAndIsNotLost) {
  TempDir dir, remotes;
  const std::string infra = remotes.path() + "/infra.git";
  TestServer ts(dir.path(), testing::ConfigWith(R"({"infra_url": "file://)" + infra + R"(", "retry_max_seconds": 1})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = WaitState(*stub, Submit(*stub, FishRequest("away")).name(), v1::Run::RETRYING);
  ASSERT_EQ(run.state(), v1::Run::RETRYING) << run.DebugString();
  EXPECT_NE(run.error().find("UNAVAILABLE"), std::string::npos) << run.error();
  EXPECT_NE(run.error().find("cannot fetch"), std::string::npos) << run.error();
  // The remote comes up: the run carries on by itself.
  ASSERT_TRUE(GitRepo::InitSeededBare(infra, "main", "", {{"README.md", "infra\n"}}, {"t", "t@x.ca"}).ok());
  run = WaitState(*stub, run.name(), v1::Run::AWAITING_APPROVAL);
  EXPECT_EQ(run.state(), v1::Run::AWAITING_APPROVAL) << run.DebugString();
  EXPECT_GE(run.attempts(), 2);
}

TEST(ResourcingScenarios, WatchRunStreamsTheRunFromSubmissionToItsEnd) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(R"({"approval": {"new-workspace-template": "none"}})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = Submit(*stub, FishRequest("watched"));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::WatchRunRequest req;
  req.set_name(run.name());
  auto reader = stub->WatchRun(&ctx, req);
  std::vector<v1::Run::State> states;
  std::vector<v1::ResourceStatus> statuses;
  v1::ResourcingEvent e;
  int64_t last = 0;
  while (reader->Read(&e)) {
    EXPECT_GT(e.sequence(), last);
    last = e.sequence();
    EXPECT_EQ(e.request_id().empty(), false);
    if (e.has_run()) states.push_back(e.run().state());
    if (e.has_status()) statuses.push_back(e.status().templates(0).status());
    if (e.has_run() && e.run().state() == v1::Run::SUCCEEDED) break;
  }
  ctx.TryCancel();
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.front(), v1::Run::QUEUED);
  EXPECT_EQ(states.back(), v1::Run::SUCCEEDED);
  EXPECT_NE(std::find(states.begin(), states.end(), v1::Run::PIPELINE_RUNNING), states.end());
  ASSERT_GE(statuses.size(), 3u);
  EXPECT_EQ(statuses.front(), v1::REQUESTED);
  EXPECT_EQ(statuses.back(), v1::COMPLETED);
}

TEST(ResourcingScenarios, RepeatedApproveAndAbandonAreMarkedReplayed) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(R"({"pipeline_command": []})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run fish = WaitState(*stub, Submit(*stub, FishRequest("rp-fish")).name(), v1::Run::AWAITING_APPROVAL);
  auto approve = [&](const std::string& id, std::string* trailer) {
    grpc::ClientContext ctx;
    v1::ApprovePullRequestRequest req;
    req.set_request_id(id);
    req.set_name(fish.pull_request());
    v1::PullRequest pr;
    grpc::Status s = stub->ApprovePullRequest(&ctx, req, &pr);
    *trailer = ReplayedTrailer(ctx);
    return s.ok() ? pr.state() : v1::PullRequest::STATE_UNSPECIFIED;
  };
  std::string trailer;
  EXPECT_EQ(approve("approve-a", &trailer), v1::PullRequest::MERGED);
  EXPECT_EQ(trailer, "");
  EXPECT_EQ(approve("approve-a", &trailer), v1::PullRequest::MERGED);
  EXPECT_EQ(trailer, "true") << "the same request_id: the first answer";
  EXPECT_EQ(approve("approve-b", &trailer), v1::PullRequest::MERGED);
  EXPECT_EQ(trailer, "") << "another request_id finds it merged, but is no replay";

  v1::Run cod = WaitState(*stub, Submit(*stub, FishRequest("rp-cod", "templates/new-workspace-template", "COD")).name(),
                          v1::Run::AWAITING_APPROVAL);
  for (const char* want : {"", "true"}) {
    grpc::ClientContext ctx;
    v1::AbandonPullRequestRequest req;
    req.set_request_id("abandon-cod");
    req.set_name(cod.pull_request());
    v1::PullRequest pr;
    ASSERT_TRUE(stub->AbandonPullRequest(&ctx, req, &pr).ok());
    EXPECT_EQ(pr.state(), v1::PullRequest::ABANDONED);
    EXPECT_EQ(ReplayedTrailer(ctx), want);
  }
}

TEST(ResourcingScenarios, NewProjectTemplateIsTheWorkspaceTemplateEndToEnd) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  // The name the seeds' senders use; the modules repository holds the
  // template as new-workspace-template.
  v1::Run run = Submit(*stub, FishRequest("alias-1", "templates/new-project-template"));
  ASSERT_FALSE(run.name().empty());
  ASSERT_EQ(run.modules_size(), 1);
  EXPECT_EQ(run.modules(0).name(), "new-workspace-template") << "read as the template's name";
  run = WaitState(*stub, run.name(), v1::Run::AWAITING_APPROVAL);
  ASSERT_EQ(run.state(), v1::Run::AWAITING_APPROVAL) << run.error();
  v1::PullRequest pr;
  ASSERT_TRUE(Approve(*stub, run.pull_request(), &pr).ok());
  run = WaitEnd(*stub, run.name());
  EXPECT_EQ(run.state(), v1::Run::SUCCEEDED) << run.error();
  v1::Workspace ws = GetWorkspaceOrDie(*stub, "workspaces/FISH");
  EXPECT_EQ(ws.status(), v1::COMPLETED);
  ASSERT_EQ(ws.templates_size(), 1);
  EXPECT_EQ(ws.templates(0).template_(), "new-workspace-template");
  auto view = View(InfraUrl(dir), scratch.path());
  EXPECT_TRUE(*view->HasPath(**view->BranchCommit("main"), "terraform/projects/FISH"));

  // A second request naming it the other way is the same template: the
  // workspace still lists it once.
  v1::Run again = Submit(*stub, FishRequest("alias-2", "templates/new-workspace-template"));
  again = WaitEnd(*stub, again.name());
  EXPECT_EQ(again.state(), v1::Run::SUCCEEDED) << again.error();
  EXPECT_EQ(again.commits_size(), 0) << "the same template, nothing new to commit";
  EXPECT_EQ(GetWorkspaceOrDie(*stub, "workspaces/FISH").templates_size(), 1);
}

TEST(ResourcingScenarios, ApprovalOverrideMayNameTheTemplateByItsOtherName) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(R"({"approval": {"templates/new-project-template": "none"}})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = WaitEnd(*stub, Submit(*stub, FishRequest("override")).name());
  EXPECT_EQ(run.state(), v1::Run::SUCCEEDED) << run.error();
  EXPECT_TRUE(run.pull_request().empty()) << "no approval needed: straight to main";
}

TEST(ResourcingScenarios, MissingPipelineProgramFailsTheRunNamingItAndItsKey) {
  TempDir dir;
  // The server starts (with a warning); the run fails at its pipeline step.
  TestServer ts(dir.path(), testing::ConfigWith(R"({"pipeline_command": ["/nonexistent/apply"]})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = WaitState(*stub, Submit(*stub, FishRequest("nopipe")).name(), v1::Run::AWAITING_APPROVAL);
  v1::PullRequest pr;
  ASSERT_TRUE(Approve(*stub, run.pull_request(), &pr).ok());
  run = WaitEnd(*stub, run.name());
  EXPECT_EQ(run.state(), v1::Run::FAILED);
  EXPECT_NE(run.error().find("program '/nonexistent/apply'"), std::string::npos) << run.error();
  EXPECT_NE(run.error().find("resourcing.pipeline_command[0]"), std::string::npos) << run.error();
}

}  // namespace
}  // namespace switchboard
