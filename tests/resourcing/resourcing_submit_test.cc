// SubmitRun through a real gRPC client: validation (docs/wire-formats.md section 1),
// the records it makes, and idempotency on request_id.

#include <gtest/gtest.h>

#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard {
namespace {

using testing::FishRequest;
using testing::TempDir;
using testing::TestServer;

grpc::Status Submit(v1::ResourcingService::Stub& stub, const v1::SubmitRunRequest& req, v1::Run* run) {
  grpc::ClientContext ctx;
  return stub.SubmitRun(&ctx, req, run);
}

TEST(ResourcingSubmit, RecordsRunAndWorkspaceAsRequested) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(R"({"pipeline_command": []})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  auto req = FishRequest("req-1");
  req.mutable_workspace()->set_acronym("fish");
  auto* blob = req.add_modules();
  blob->set_name("azure-storage-blob");
  // Workspace template listed second: it must still go first.
  std::swap(*req.mutable_modules(0), *req.mutable_modules(1));
  v1::Run run;
  ASSERT_TRUE(Submit(*stub, req, &run).ok());
  EXPECT_EQ(run.workspace(), "workspaces/FISH");
  EXPECT_EQ(run.workspace_spec().acronym(), "FISH");
  ASSERT_EQ(run.modules_size(), 2);
  EXPECT_EQ(run.modules(0).name(), "new-workspace-template");
  EXPECT_EQ(run.modules(1).name(), "azure-storage-blob");
  EXPECT_EQ(run.requesting_user_email(), "ana.lead@dfo.example");

  v1::Workspace ws = testing::GetWorkspaceOrDie(*stub, "workspaces/FISH");
  EXPECT_EQ(ws.spec().name(), "Fisheries Data Lab");
  ASSERT_EQ(ws.templates_size(), 2);
  EXPECT_EQ(ws.last_run(), run.name());
}

TEST(ResourcingSubmit, SameRequestIdReturnsSameRunDifferentContentIsAlreadyExists) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(R"({"pipeline_command": []})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  v1::Run a, b, c;
  ASSERT_TRUE(Submit(*stub, FishRequest("dup-1"), &a).ok());
  ASSERT_TRUE(Submit(*stub, FishRequest("dup-1"), &b).ok());
  EXPECT_EQ(a.name(), b.name());
  ASSERT_TRUE(Submit(*stub, FishRequest("dup-2"), &c).ok());
  EXPECT_NE(a.name(), c.name());

  grpc::ClientContext ctx;
  v1::ListRunsRequest lr;
  v1::ListRunsResponse runs;
  ASSERT_TRUE(stub->ListRuns(&ctx, lr, &runs).ok());
  EXPECT_EQ(runs.runs_size(), 2) << "the repeat made no second run";
  EXPECT_EQ(runs.runs(0).name(), c.name()) << "newest first";

  v1::Run d;
  grpc::Status s = Submit(*stub, FishRequest("dup-1", "templates/azure-storage-blob"), &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
}

struct BadCase {
  const char* what;
  std::function<void(v1::SubmitRunRequest*)> spoil;
  const char* field;
};

TEST(ResourcingSubmit, BadInputIsInvalidArgumentNamingTheField) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(R"({"pipeline_command": []})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  std::vector<BadCase> cases = {
      {"no request id", [](auto* r) { r->clear_request_id(); }, "request_id"},
      {"no workspace", [](auto* r) { r->clear_workspace(); }, "workspace"},
      {"no acronym", [](auto* r) { r->mutable_workspace()->clear_acronym(); }, "workspace.acronym"},
      {"acronym with slash", [](auto* r) { r->mutable_workspace()->set_acronym("FI/SH"); }, "workspace.acronym"},
      {"acronym too long", [](auto* r) { r->mutable_workspace()->set_acronym("ABCDEFGHIJK"); }, "workspace.acronym"},
      {"long name", [](auto* r) { r->mutable_workspace()->set_name(std::string(101, 'x')); }, "workspace.name"},
      {"org code too long", [](auto* r) { r->mutable_workspace()->mutable_organization()->set_code("ABCDEFGHIJK"); },
       "workspace.organization.code"},
      {"no modules", [](auto* r) { r->clear_modules(); }, "modules"},
      {"dotdot template", [](auto* r) { r->mutable_modules(0)->set_name("templates/../../etc"); }, "modules[0].name"},
      {"absolute template", [](auto* r) { r->mutable_modules(0)->set_name("/etc/passwd"); }, "modules[0].name"},
      {"long template", [](auto* r) { r->mutable_modules(0)->set_name(std::string(201, 'a')); }, "modules[0].name"},
      {"both names of the workspace template", [](auto* r) { r->add_modules()->set_name("new-project-template"); },
       "modules"},
      {"bad email", [](auto* r) { r->set_requesting_user_email("not-an-address"); }, "requesting_user_email"},
      {"bad user email", [](auto* r) { r->mutable_workspace()->mutable_users(1)->set_email("x"); },
       "workspace.users[1].email"},
      {"huge user list",
       [](auto* r) {
         for (int i = 0; i < 1001; ++i) r->mutable_workspace()->add_users()->set_email("u" + std::to_string(i) + "@x.ca");
       },
       "workspace.users"},
  };
  for (const auto& c : cases) {
    auto req = FishRequest(std::string("bad-") + c.what);
    c.spoil(&req);
    v1::Run run;
    grpc::Status s = Submit(*stub, req, &run);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what << ": " << s.error_message();
    EXPECT_EQ(s.error_message().rfind(c.field, 0), 0u) << c.what << ": " << s.error_message();
  }
  grpc::ClientContext ctx;
  v1::ListWorkspacesResponse list;
  ASSERT_TRUE(stub->ListWorkspaces(&ctx, {}, &list).ok());
  EXPECT_EQ(list.workspaces_size(), 0) << "nothing half-written";
}

TEST(ResourcingSubmit, UnknownNamesAreNotFoundOrInvalid) {
  TempDir dir;
  TestServer ts(dir.path(), testing::ConfigWith(R"({"pipeline_command": []})"));
  auto stub = v1::ResourcingService::NewStub(ts.Channel());
  grpc::ClientContext c1, c2;
  v1::GetRunRequest g;
  g.set_name("runs/999");
  v1::Run run;
  EXPECT_EQ(stub->GetRun(&c1, g, &run).error_code(), grpc::StatusCode::NOT_FOUND);
  g.set_name("nope");
  EXPECT_EQ(stub->GetRun(&c2, g, &run).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace switchboard
