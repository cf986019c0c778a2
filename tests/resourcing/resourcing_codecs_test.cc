// docs/wire-formats.md sections 1 and 2: golden tests over fixtures/datahub and the
// variants the wire allows (case, envelope, base64, templates key), plus bad
// input naming the field.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "wire/run_request.h"
#include "wire/terraform_output.h"

namespace switchboard {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(SB_FIXTURES_DIR) + "/datahub/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ResourcingCodecs, NewWorkspaceFixtureDecodes) {
  auto req = wire::RunRequestFromJson(Fixture("resource-run-request.new-workspace.json"), "m-1");
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->request_id(), "m-1");
  ASSERT_EQ(req->modules_size(), 1);
  EXPECT_EQ(req->modules(0).name(), "templates/new-workspace-template");
  EXPECT_EQ(req->modules(0).version(), "latest");
  EXPECT_EQ(req->workspace().acronym(), "FISH");
  EXPECT_EQ(req->workspace().organization().code(), "DFO");
  ASSERT_EQ(req->workspace().users_size(), 3);
  EXPECT_EQ(req->workspace().users(0).role(), v1::OWNER);
  EXPECT_EQ(req->workspace().users(2).role(), v1::GUEST);
  EXPECT_EQ(req->workspace().users(2).object_id(), "");
  EXPECT_EQ(req->requesting_user_email(), "ana.lead@dfo.example");
}

TEST(ResourcingCodecs, RoundTripThroughJsonKeepsEverything) {
  auto req = wire::RunRequestFromJson(Fixture("resource-run-request.azure-storage-blob.json"), "x");
  ASSERT_TRUE(req.ok());
  auto again = wire::RunRequestFromJson(wire::RunRequestToJson(*req), "x");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->SerializeAsString(), req->SerializeAsString());
  // Same content as the fixture, key for key.
  EXPECT_EQ(nlohmann::json::parse(wire::RunRequestToJson(*req)),
            nlohmann::json::parse(Fixture("resource-run-request.azure-storage-blob.json")));
}

TEST(ResourcingCodecs, PascalCaseTemplatesKeyEnvelopeAndBase64AreAccepted) {
  const std::string pascal = R"({"Templates":[{"Name":"azure-storage-blob","Version":"v1"}],
    "Workspace":{"Name":"W","Acronym":"ABC","Organization":{"Name":"O","Code":"C"},
                 "Users":[{"Email":"u@x.ca","Role":"admin"},{"email":"v@x.ca"}]},
    "RequestingUserEmail":"u@x.ca"})";
  auto a = wire::RunRequestFromJson(pascal);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->modules(0).name(), "azure-storage-blob");
  EXPECT_EQ(a->workspace().users(0).role(), v1::ADMIN);
  EXPECT_EQ(a->workspace().users(1).role(), v1::USER_ROLE_UNSPECIFIED);

  const std::string env = R"({"messageId":"mt-42","messageType":["urn:message:Datahub:ResourceRunRequest"],"message":)" +
                          pascal + "}";
  auto b = wire::RunRequestFromJson(env);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->request_id(), "mt-42");
  EXPECT_EQ(b->workspace().acronym(), "ABC");

  auto c = wire::RunRequestFromJson(absl::Base64Escape(env));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->SerializeAsString(), b->SerializeAsString());
}

TEST(ResourcingCodecs, BadRunRequestsNameTheField) {
  struct Case {
    const char* body;
    const char* field;
  } cases[] = {
      {"[]", "body"},
      {"not base64 !!", "body"},
      {R"({"workspace":{"name":"a","acronym":"b"},"requestingUserEmail":"a@b.c"})", "modules"},
      {R"({"modules":{},"workspace":{"name":"a","acronym":"b"},"requestingUserEmail":"a@b.c"})", "modules"},
      {R"({"modules":[{"version":"1"}],"workspace":{"name":"a","acronym":"b"},"requestingUserEmail":"a@b.c"})",
       "modules[0].name"},
      {R"({"modules":[],"requestingUserEmail":"a@b.c"})", "workspace"},
      {R"({"modules":[],"workspace":{"name":"a"},"requestingUserEmail":"a@b.c"})", "workspace.acronym"},
      {R"({"modules":[],"workspace":{"name":"a","acronym":7},"requestingUserEmail":"a@b.c"})", "workspace.acronym"},
      {R"({"modules":[],"workspace":{"name":"a","acronym":"b","users":[{"email":"x@y.z","role":"Boss"}]},"requestingUserEmail":"a@b.c"})",
       "workspace.users[0].role"},
      {R"({"modules":[],"workspace":{"name":"a","acronym":"b"}})", "requestingUserEmail"},
  };
  for (const auto& c : cases) {
    auto r = wire::RunRequestFromJson(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(c.field, 0), 0u) << r.status().message();
  }
}

TEST(ResourcingCodecs, PipelineOutputFixtureDecodes) {
  auto req = wire::TerraformOutputFromJson(Fixture("terraform-output.pipeline.json"), "q-1");
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->request_id(), "q-1");
  EXPECT_EQ(req->outputs().size(), 5u);
  EXPECT_EQ(req->outputs().at("project_cd").value().string_value(), "FISH");
  EXPECT_TRUE(req->outputs().at("azure_storage_account_key").sensitive());
  EXPECT_EQ(req->outputs().at("azure_storage_blob_status").value().string_value(), "Completed");
  EXPECT_EQ(req->outputs().at("azure_storage_blob_container_url").type().string_value(), "string");
}

TEST(ResourcingCodecs, StatusReportEncodesLikeThePullRequestFixture) {
  v1::StatusReport report;
  report.set_project_cd("FISH");
  auto* t = report.add_templates();
  t->set_template_("new-workspace-template");
  t->set_status(v1::PENDING_APPROVAL);
  EXPECT_EQ(nlohmann::json::parse(wire::StatusReportToJson(report)),
            nlohmann::json::parse(Fixture("terraform-output.pull-request.json")));
}

TEST(ResourcingCodecs, StatusReportEncodesLikeThePipelineFixtureWithoutRedactedValues) {
  auto in = wire::TerraformOutputFromJson(Fixture("terraform-output.pipeline.json"));
  ASSERT_TRUE(in.ok());
  v1::StatusReport report;
  report.set_project_cd("FISH");
  auto* a = report.add_templates();
  a->set_template_("new-workspace-template");
  a->set_status(v1::COMPLETED);
  auto* b = report.add_templates();
  b->set_template_("azure-storage-blob");
  b->set_status(v1::COMPLETED);
  auto url = in->outputs().at("azure_storage_blob_container_url");
  (*report.mutable_outputs())["azure_storage_blob_container_url"] = url;
  v1::OutputValue redacted;
  redacted.set_sensitive(true);
  redacted.set_redacted(true);
  (*report.mutable_outputs())["azure_storage_account_key"] = redacted;
  auto want = nlohmann::json::parse(Fixture("terraform-output.pipeline.json"));
  want.erase("azure_storage_account_key");
  EXPECT_EQ(nlohmann::json::parse(wire::StatusReportToJson(report)), want);
}

TEST(ResourcingCodecs, BadOutputsNameTheKey) {
  for (auto [body, field] : std::vector<std::pair<const char*, const char*>>{
           {R"({"project_cd":"FISH"})", "project_cd"},
           {R"({"project_cd":{"type":"string"}})", "project_cd.value"},
           {R"({"x":{"value":1}})", "project_cd"},
           {R"({"project_cd":{"value":"F","sensitive":"yes"}})", "project_cd.sensitive"}}) {
    auto r = wire::TerraformOutputFromJson(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().message().rfind(field, 0), 0u) << r.status().message();
  }
}

}  // namespace
}  // namespace switchboard
