// The optional pipeline-output queue: an external pipeline (the server runs
// none: pipeline_command []) reports `terraform output -json` through a
// queue; the gateway applies it with ReportPipelineOutputs, and the status
// queue shows the outcome. Bad reports go to "<queue>-poison".

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateway/gateway.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/gateway/http_client.h"
#include "tests/gateway/storage_queue_env.h"
#include "tests/gateway/storage_queue_support.h"
#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard::gateway {
namespace {

using storage_queue::QueueClient;
using switchboard::testing::AzuriteQueueAccount;
using switchboard::testing::Count;
using switchboard::testing::DrainJson;
using switchboard::testing::QueueGatewayConfig;
using switchboard::testing::ReadFixture;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;
using switchboard::testing::UniqueQueueName;
using switchboard::testing::WaitFor;
using nlohmann::json;

TEST(StorageQueuePipeline, ExternalPipelineReportsThroughTheQueue) {
  TempDir dir;
  TestServer server(dir.path(), testing::ConfigWith(R"({"pipeline_command": []})"));
  auto ch = server.Channel();
  auto stub = v1::ResourcingService::NewStub(ch);
  GatewayConfig c = QueueGatewayConfig(server.server().grpc_address(), "pipe");
  c.pipeline_output_queue = UniqueQueueName("pipe-out");
  c.azure_queue_message_encoding = "none";  // status and poison bodies as plain JSON
  QueueClient q(AzuriteQueueAccount());
  ASSERT_TRUE(q.CreateQueue(c.run_request_queue).ok());
  ASSERT_TRUE(q.CreateQueue(c.pipeline_output_queue).ok());
  ASSERT_TRUE(q.PutMessage(c.run_request_queue,
                           absl::Base64Escape(ReadFixture("datahub/resource-run-request.new-workspace.json")))
                  .ok());
  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();

  // Request -> PR -> approve -> IN_PROGRESS, waiting for the external report.
  std::string run_name;
  ASSERT_TRUE(WaitFor([&] {
    grpc::ClientContext ctx;
    v1::ListRunsRequest req;
    v1::ListRunsResponse resp;
    if (!stub->ListRuns(&ctx, req, &resp).ok() || resp.runs_size() != 1) return false;
    run_name = resp.runs(0).name();
    return !resp.runs(0).pull_request().empty();
  }, 60));
  {
    grpc::ClientContext ctx;
    v1::ApprovePullRequestRequest req;
    req.set_request_id("approve");
    req.set_name(testing::GetRunOrDie(*stub, run_name).pull_request());
    v1::PullRequest pr;
    ASSERT_TRUE(stub->ApprovePullRequest(&ctx, req, &pr).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return testing::GetWorkspaceOrDie(*stub, "workspaces/FISH").status() == v1::IN_PROGRESS; }));

  // The pipeline's report (base64, as Azure sends it), an undecodable one
  // and one for a workspace that does not exist.
  json report = json::parse(ReadFixture("datahub/terraform-output.pull-request.json"));
  report["new_project_template"]["value"] = "Completed";
  report["workspace_resource_group"] = {{"sensitive", false}, {"type", "string"}, {"value", "rg-from-queue"}};
  // With encoding "none" the status messages are plain JSON on the queue.
  auto first_status = q.PeekMessages(c.status_queue, 1);
  ASSERT_TRUE(first_status.ok() && !first_status->empty()) << "status messages so far";
  EXPECT_EQ((*first_status)[0].text.front(), '{') << (*first_status)[0].text;
  auto good = q.PutMessage(c.pipeline_output_queue, absl::Base64Escape(report.dump()));
  ASSERT_TRUE(good.ok());
  auto garbage = q.PutMessage(c.pipeline_output_queue, R"({"project_cd": {"sensitive": false}})");
  ASSERT_TRUE(garbage.ok());
  json unknown = report;
  unknown["project_cd"]["value"] = "NOPE";
  auto stranger = q.PutMessage(c.pipeline_output_queue, unknown.dump());
  ASSERT_TRUE(stranger.ok());

  ASSERT_TRUE(WaitFor([&] { return testing::GetWorkspaceOrDie(*stub, "workspaces/FISH").status() == v1::COMPLETED; }, 30));
  EXPECT_EQ(testing::GetWorkspaceOrDie(*stub, "workspaces/FISH").outputs().at("workspace_resource_group").value().string_value(),
            "rg-from-queue");

  std::vector<json> poison;
  ASSERT_TRUE(WaitFor([&] {
    DrainJson(q, c.pipeline_output_queue + "-poison", &poison);
    return poison.size() >= 2u;
  }, 30));
  ASSERT_EQ(poison.size(), 2u);
  std::map<std::string, std::string> reason_of;
  for (const auto& p : poison) reason_of[p["messageId"]] = p["reason"];
  EXPECT_NE(reason_of[garbage->id].find("project_cd.value"), std::string::npos) << reason_of[garbage->id];
  EXPECT_NE(reason_of[stranger->id].find("NOT_FOUND"), std::string::npos) << reason_of[stranger->id];
  EXPECT_TRUE(WaitFor([&] { return Count(q, c.pipeline_output_queue) == 0; }, 10));

  // The status queue ends with Completed and the output, as plain JSON.
  std::vector<json> status;
  ASSERT_TRUE(WaitFor([&] {
    DrainJson(q, c.status_queue, &status);
    return !status.empty() && status.back()["new_project_template"]["value"] == "Completed";
  }, 30)) << json(status).dump();
  EXPECT_EQ(status.back()["workspace_resource_group"]["value"], "rg-from-queue");
  (*gw)->Stop();
}

v1::ReportPipelineOutputsRequest Report(const std::string& id, const std::string& status,
                                        const std::map<std::string, std::string>& outputs) {
  v1::ReportPipelineOutputsRequest r;
  r.set_request_id(id);
  (*r.mutable_outputs())["project_cd"].mutable_value()->set_string_value("FISH");
  (*r.mutable_outputs())["new_project_template"].mutable_value()->set_string_value(status);
  for (const auto& [k, v] : outputs) (*r.mutable_outputs())[k].mutable_value()->set_string_value(v);
  return r;
}

TEST(StorageQueuePipeline, StatusMessageTooLargeForAzureIsSkippedNotBlocking) {
  TempDir dir;
  TestServer server(dir.path(), testing::ConfigWith(R"({"pipeline_command": []})"));
  auto stub = v1::ResourcingService::NewStub(server.Channel());
  GatewayConfig c = QueueGatewayConfig(server.server().grpc_address(), "big");
  QueueClient q(AzuriteQueueAccount());
  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();

  v1::Run run;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->SubmitRun(&ctx, testing::FishRequest("big-1"), &run).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return !testing::GetRunOrDie(*stub, run.name()).pull_request().empty(); }, 60));
  {
    grpc::ClientContext ctx;
    v1::ApprovePullRequestRequest req;
    req.set_request_id("approve");
    req.set_name(testing::GetRunOrDie(*stub, run.name()).pull_request());
    v1::PullRequest pr;
    ASSERT_TRUE(stub->ApprovePullRequest(&ctx, req, &pr).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return testing::GetWorkspaceOrDie(*stub, "workspaces/FISH").status() == v1::IN_PROGRESS; }));
  // A report whose status message is over Azure's 64 KiB, then one that
  // makes the output small again (outputs are kept across reports).
  for (const auto& r : {Report("r1", "Completed", {{"huge", std::string(70000, 'h')}}),
                        Report("r2", "Completed", {{"huge", "small now"}})}) {
    grpc::ClientContext ctx;
    v1::ReportPipelineOutputsResponse resp;
    grpc::Status s = stub->ReportPipelineOutputs(&ctx, r, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  std::vector<json> status;
  ASSERT_TRUE(WaitFor([&] {
    DrainJson(q, c.status_queue, &status);
    return !status.empty() && status.back().contains("huge") && status.back()["huge"]["value"] == "small now";
  }, 30)) << json(status).dump().substr(0, 2000);
  for (const auto& m : status) {
    EXPECT_TRUE(!m.contains("huge") || m["huge"]["value"] == "small now") << "Azure cannot hold the big one";
  }
  auto metrics = testing::HttpClient((*gw)->http_address()).Get("/metrics");
  EXPECT_NE(metrics.body.find("switchboard_gateway_errors_total{kind=\"status_queue_rejected\"} 1"),
            std::string::npos)
      << metrics.body;
}

}  // namespace
}  // namespace switchboard::gateway
