// The seed flows end to end through a real gRPC client, with the embedded
// bare repositories (libgit2) and the default local pipeline:
//  * seed 001: request -> PENDING_APPROVAL -> approve -> IN_PROGRESS ->
//    pipeline -> COMPLETED, checking the repository tree, tfvars, commit
//    authors and the PR record;
//  * seed 000: a no-approval template straight to main.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/resourcing/git_repo.h"
#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard {
namespace {

using resourcing::GitRepo;
using testing::FishRequest;
using testing::TempDir;
using testing::TestServer;
using testing::WaitFor;

v1::Run SubmitOk(v1::ResourcingService::Stub& stub, const v1::SubmitRunRequest& req) {
  grpc::ClientContext ctx;
  v1::Run run;
  grpc::Status s = stub.SubmitRun(&ctx, req, &run);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return run;
}

// A fresh mirror of the server's embedded infrastructure remote, fetched.
std::unique_ptr<GitRepo> InfraView(const std::string& data_dir, const std::string& scratch) {
  auto repo = GitRepo::OpenMirror(scratch + "/view.git", data_dir + "/resourcing/remotes/infra.git", "");
  EXPECT_TRUE(repo.ok()) << repo.status();
  EXPECT_TRUE((*repo)->Fetch().ok());
  return std::move(*repo);
}

std::string FileAt(GitRepo& repo, const std::string& commit, const std::string& folder, const std::string& name) {
  auto entries = repo.ReadFolder(commit, folder);
  if (!entries.ok()) return "";
  for (const auto& e : *entries) {
    if (e.name == name) return e.content;
  }
  return "";
}

TEST(ResourcingFlow, Seed001WorkspaceThroughPullRequestToCompleted) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run run = SubmitOk(*stub, FishRequest("seed-001"));

  ASSERT_TRUE(WaitFor([&] { return testing::GetRunOrDie(*stub, run.name()).state() == v1::Run::AWAITING_APPROVAL; }))
      << testing::GetRunOrDie(*stub, run.name()).DebugString();
  v1::Workspace ws = testing::GetWorkspaceOrDie(*stub, "workspaces/FISH");
  EXPECT_EQ(ws.status(), v1::PENDING_APPROVAL);
  ASSERT_EQ(ws.templates_size(), 1);
  EXPECT_EQ(ws.templates(0).approval_policy(), v1::APPROVAL_REQUIRED);

  run = testing::GetRunOrDie(*stub, run.name());
  ASSERT_FALSE(run.pull_request().empty());
  ASSERT_EQ(run.commits_size(), 1);
  EXPECT_EQ(run.branch(), "FISH");

  auto view = InfraView(dir.path(), scratch.path());
  auto branch = view->BranchCommit("FISH");
  ASSERT_TRUE(branch.ok() && branch->has_value());
  EXPECT_EQ(**branch, run.commits(0));
  auto info = view->CommitInfo(**branch);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->first, "ana.lead@dfo.example");
  EXPECT_EQ(info->second, "Committing new-workspace-template changes");
  auto main_before = view->BranchCommit("main");
  ASSERT_TRUE(main_before.ok() && main_before->has_value());
  EXPECT_FALSE(*view->HasPath(**main_before, "terraform/projects/FISH")) << "nothing lands on main before approval";

  // The PR record.
  v1::PullRequest pr;
  {
    grpc::ClientContext ctx;
    v1::GetPullRequestRequest req;
    req.set_name(run.pull_request());
    ASSERT_TRUE(stub->GetPullRequest(&ctx, req, &pr).ok());
  }
  EXPECT_EQ(pr.state(), v1::PullRequest::ACTIVE);
  EXPECT_EQ(pr.source_branch(), "refs/heads/FISH");
  EXPECT_EQ(pr.target_branch(), "refs/heads/main");
  EXPECT_EQ(pr.created_by(), "ana.lead@dfo.example");
  EXPECT_EQ(pr.provider(), "builtin");
  ASSERT_EQ(pr.runs_size(), 1);

  {
    grpc::ClientContext ctx;
    v1::ApprovePullRequestRequest req;
    req.set_request_id("approve-1");
    req.set_name(pr.name());
    ASSERT_TRUE(stub->ApprovePullRequest(&ctx, req, &pr).ok());
  }
  EXPECT_EQ(pr.state(), v1::PullRequest::MERGED);
  EXPECT_EQ(pr.closed_by(), "local-admin");
  EXPECT_FALSE(pr.merge_commit().empty());

  ASSERT_TRUE(WaitFor([&] { return testing::GetRunOrDie(*stub, run.name()).state() == v1::Run::SUCCEEDED; }))
      << testing::GetRunOrDie(*stub, run.name()).DebugString();
  ws = testing::GetWorkspaceOrDie(*stub, "workspaces/FISH");
  EXPECT_EQ(ws.status(), v1::COMPLETED);
  EXPECT_EQ(ws.outputs().at("workspace_resource_group").value().string_value(), "fsdh_proj_fish_dev_rg");
  EXPECT_TRUE(ws.open_runs().empty());

  ASSERT_TRUE(view->Fetch().ok());
  auto main_after = view->BranchCommit("main");
  ASSERT_TRUE(main_after.ok() && main_after->has_value());
  EXPECT_EQ(**main_after, pr.merge_commit());
  // Fast-forward: main's tip is the requesting user's commit.
  info = view->CommitInfo(**main_after);
  EXPECT_EQ(info->first, "ana.lead@dfo.example");
  auto tfvars = nlohmann::json::parse(
      FileAt(*view, **main_after, "terraform/projects/FISH", "new-workspace-template.auto.tfvars.json"), nullptr,
      false);
  ASSERT_TRUE(tfvars.is_object());
  EXPECT_EQ(tfvars["project_cd"], "FISH");
  EXPECT_EQ(tfvars["organization_code"], "DFO");
  EXPECT_EQ(tfvars["workspace_users"].size(), 3u);
  EXPECT_EQ(tfvars["workspace_admin_users"].size(), 2u);
  EXPECT_EQ(tfvars["workspace_admin_users"][1]["oid"], "7e9d1c3b-2a4f-4b6e-8c0d-1f2e3a4b5c6d");
  EXPECT_FALSE(tfvars.contains("location")) << "defaults are left to Terraform";
  std::string main_tf = FileAt(*view, **main_after, "terraform/projects/FISH", "new-workspace-template.main.tf.json");
  EXPECT_NE(main_tf.find("?ref=latest"), std::string::npos) << "{{version}} replaced";
  EXPECT_NE(main_tf.find("\"infrastructure_branch\": \"FISH\""), std::string::npos) << "{{branch}} replaced";
  EXPECT_EQ(FileAt(*view, **main_after, "terraform/projects/FISH", "README.md"), "") << "*.md not copied";
  EXPECT_EQ(FileAt(*view, **main_after, "terraform/projects/FISH", "template.json"), "");
  EXPECT_FALSE(view->BranchCommit("FISH")->has_value()) << "the merged branch is deleted";
}

TEST(ResourcingFlow, Seed000StorageBlobStraightToMain) {
  TempDir dir, scratch;
  TestServer ts(dir.path());
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  // The workspace first (approved), then the storage request.
  v1::Run ws_run = SubmitOk(*stub, FishRequest("ws"));
  ASSERT_TRUE(WaitFor([&] { return testing::GetRunOrDie(*stub, ws_run.name()).state() == v1::Run::AWAITING_APPROVAL; }));
  {
    grpc::ClientContext ctx;
    v1::ApprovePullRequestRequest req;
    req.set_request_id("a");
    req.set_name(testing::GetRunOrDie(*stub, ws_run.name()).pull_request());
    v1::PullRequest pr;
    ASSERT_TRUE(stub->ApprovePullRequest(&ctx, req, &pr).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return testing::GetRunOrDie(*stub, ws_run.name()).state() == v1::Run::SUCCEEDED; }));

  v1::Run run = SubmitOk(*stub, FishRequest("blob", "templates/azure-storage-blob"));
  ASSERT_TRUE(WaitFor([&] { return testing::IsTerminalRunState(testing::GetRunOrDie(*stub, run.name()).state()); }));
  run = testing::GetRunOrDie(*stub, run.name());
  ASSERT_EQ(run.state(), v1::Run::SUCCEEDED) << run.DebugString();
  EXPECT_TRUE(run.pull_request().empty()) << "no approval, no PR";
  EXPECT_EQ(run.branch(), "main");
  ASSERT_EQ(run.commits_size(), 1);

  auto view = InfraView(dir.path(), scratch.path());
  auto main = view->BranchCommit("main");
  EXPECT_EQ(**main, run.commits(0));
  auto info = view->CommitInfo(**main);
  EXPECT_EQ(info->first, "ana.lead@dfo.example");
  EXPECT_EQ(info->second, "Committing azure-storage-blob changes");
  auto tfvars = nlohmann::json::parse(
      FileAt(*view, **main, "terraform/projects/FISH", "azure-storage-blob.auto.tfvars.json"), nullptr, false);
  ASSERT_TRUE(tfvars.is_object());
  ASSERT_EQ(tfvars["storage_reader_users"].size(), 1u);
  EXPECT_EQ(tfvars["storage_reader_users"][0]["email"], "guest@partner.example");
  EXPECT_EQ(tfvars["storage_contributor_users"].size(), 2u);

  v1::Workspace ws = testing::GetWorkspaceOrDie(*stub, "workspaces/FISH");
  EXPECT_EQ(ws.status(), v1::COMPLETED);
  EXPECT_EQ(ws.outputs().at("azure_storage_blob_container_url").value().string_value(),
            "https://fishstorage.blob.core.windows.net/datahub");
  EXPECT_EQ(ws.templates_size(), 2);
}

}  // namespace
}  // namespace switchboard
