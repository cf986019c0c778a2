// The storage queue adapter end to end: a real Azurite, an in-process
// switchboardd (real gRPC on loopback, real git, the default local
// pipeline) and the gateway in-process.
//  * seed 001 from a queue message to the status messages on the status queue;
//  * poison: undecodable, rejected by the server, dequeued more than 5 times;
//  * a redelivered message id makes one run;
//  * with the server stopped, messages stay on the queue.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateway/adapters/storage_queue/adapter.h"
#include "wire/run_request.h"
#include "gateway/gateway.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/gateway/http_client.h"
#include "tests/gateway/storage_queue_env.h"
#include "tests/gateway/storage_queue_support.h"
#include "tests/resourcing/resourcing_test_support.h"
#include "tests/core/free_port.h"

namespace switchboard::gateway {
namespace {

using storage_queue::QueueClient;
using storage_queue::QueueMessage;
using switchboard::testing::AzuriteQueueAccount;
using switchboard::testing::DrainJson;
using switchboard::testing::LogStatusMessages;
using switchboard::testing::Count;
using switchboard::testing::FreePort;
using switchboard::testing::Peek;
using switchboard::testing::QueueGatewayConfig;
using switchboard::testing::ReadFixture;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;
using switchboard::testing::WaitFor;
using nlohmann::json;

std::vector<v1::Run> ListRuns(const std::shared_ptr<grpc::Channel>& ch) {
  grpc::ClientContext ctx;
  v1::ListRunsRequest req;
  req.set_page_size(100);
  v1::ListRunsResponse resp;
  grpc::Status s = v1::ResourcingService::NewStub(ch)->ListRuns(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {resp.runs().begin(), resp.runs().end()};
}

std::string StatusOf(const json& msg, const std::string& key) {
  if (!msg.contains(key)) return "";
  return msg[key]["value"].get<std::string>();
}

TEST(StorageQueueFlow, Seed001FromQueueMessageToStatusMessages) {
  TempDir dir;
  TestServer server(dir.path());
  auto ch = server.Channel();
  GatewayConfig c = QueueGatewayConfig(server.server().grpc_address(), "seed");
  QueueClient q(AzuriteQueueAccount());
  ASSERT_TRUE(q.CreateQueue(c.run_request_queue).ok());
  // The fixture as Azure sends it: base64 of the JSON.
  auto put = q.PutMessage(c.run_request_queue,
                          absl::Base64Escape(ReadFixture("datahub/resource-run-request.new-workspace.json")));
  ASSERT_TRUE(put.ok()) << put.status();

  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();

  std::vector<json> status;
  auto has = [&](const std::string& value) {
    DrainJson(q, c.status_queue, &status);
    for (const auto& m : status) {
      if (StatusOf(m, "project_cd") == "FISH" && StatusOf(m, "new_project_template") == value) return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitFor([&] { return has("Pending Approval"); }, 60)) << json(status).dump();

  // One run, whose request_id is the queue message id; the message is gone.
  auto runs = ListRuns(ch);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].request_id(), put->id);
  EXPECT_EQ(runs[0].workspace(), "workspaces/FISH");
  EXPECT_TRUE(WaitFor([&] { return Count(q, c.run_request_queue) == 0; }, 10));
  EXPECT_TRUE(Count(q, c.run_request_poison_queue) == 0);

  // Approve the PR over gRPC; the pipeline runs and reports.
  auto stub = v1::ResourcingService::NewStub(ch);
  ASSERT_TRUE(WaitFor([&] { return !testing::GetRunOrDie(*stub, runs[0].name()).pull_request().empty(); }));
  {
    grpc::ClientContext ctx;
    v1::ApprovePullRequestRequest req;
    req.set_request_id("approve-seed-001");
    req.set_name(testing::GetRunOrDie(*stub, runs[0].name()).pull_request());
    v1::PullRequest pr;
    grpc::Status s = stub->ApprovePullRequest(&ctx, req, &pr);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(WaitFor([&] { return has("Completed"); }, 90)) << json(status).dump();

  // The messages follow the workspace through its states, in order.
  std::vector<std::string> seen;
  for (const auto& m : status) {
    std::string v = StatusOf(m, "new_project_template");
    if (seen.empty() || seen.back() != v) seen.push_back(v);
  }
  auto pos = [&](const std::string& v) { return std::find(seen.begin(), seen.end(), v) - seen.begin(); };
  EXPECT_LT(pos("Pending Approval"), pos("Completed"));
  EXPECT_EQ(seen.back(), "Completed") << json(seen).dump();
  // The completed message carries the pipeline's outputs.
  EXPECT_EQ(StatusOf(status.back(), "workspace_resource_group"), "fsdh_proj_fish_dev_rg") << status.back().dump();

  // Exactly the log's status events, each once (no crash here), in order.
  int64_t last = 0;
  std::vector<json> expected = LogStatusMessages(ch, &last);
  ASSERT_TRUE(WaitFor([&] {
    DrainJson(q, c.status_queue, &status);
    return status.size() >= expected.size();
  }, 20));
  EXPECT_EQ(json(status), json(expected));

  // The metrics count what happened.
  auto metrics = testing::HttpClient((*gw)->http_address()).Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("switchboard_gateway_storage_queue_run_request_accepted_total 1\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find(absl::StrCat("switchboard_gateway_storage_queue_status_messages_total ",
                                           expected.size(), "\n")),
            std::string::npos)
      << metrics.body;
  (*gw)->Stop();
}

TEST(StorageQueueFlow, RawJsonAndEnvelopeBodiesAreAccepted) {
  TempDir dir;
  TestServer server(dir.path());
  GatewayConfig c = QueueGatewayConfig(server.server().grpc_address(), "raw");
  QueueClient q(AzuriteQueueAccount());
  ASSERT_TRUE(q.CreateQueue(c.run_request_queue).ok());
  auto raw = q.PutMessage(c.run_request_queue, ReadFixture("datahub/resource-run-request.new-workspace.json"));
  ASSERT_TRUE(raw.ok());
  // A MassTransit envelope, PascalCase keys, another workspace: the queue
  // message id still wins as request_id over the envelope's messageId.
  json payload = json::parse(ReadFixture("datahub/resource-run-request.new-workspace.json"));
  payload["workspace"]["acronym"] = "SALMON";
  json envelope = {{"messageId", "envelope-id-1"},
                   {"messageType", {"urn:message:Datahub:ResourceRunRequest"}},
                   {"message", {{"Modules", payload["modules"]},
                                {"Workspace", payload["workspace"]},
                                {"RequestingUserEmail", payload["requestingUserEmail"]}}}};
  auto wrapped = q.PutMessage(c.run_request_queue, absl::Base64Escape(envelope.dump()));
  ASSERT_TRUE(wrapped.ok());
  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();
  ASSERT_TRUE(WaitFor([&] { return ListRuns(server.Channel()).size() == 2u; }, 30));
  std::map<std::string, std::string> workspace_of;
  for (const auto& r : ListRuns(server.Channel())) workspace_of[r.request_id()] = r.workspace();
  EXPECT_EQ(workspace_of[raw->id], "workspaces/FISH");
  EXPECT_EQ(workspace_of[wrapped->id], "workspaces/SALMON");
  EXPECT_TRUE(WaitFor([&] { return Count(q, c.run_request_queue) == 0; }, 10));
  EXPECT_TRUE(Count(q, c.run_request_poison_queue) == 0);
}

TEST(StorageQueueFlow, PoisonMessagesCarryTheReasonAndTheOriginalText) {
  TempDir dir;
  TestServer server(dir.path());
  GatewayConfig c = QueueGatewayConfig(server.server().grpc_address(), "poison");
  QueueClient q(AzuriteQueueAccount());
  ASSERT_TRUE(q.CreateQueue(c.run_request_queue).ok());

  const std::string not_json = "this is { not json";
  const std::string bad_field = absl::Base64Escape(R"({"modules": [{"name": "x"}], "workspace": 5})");
  v1::SubmitRunRequest invalid = testing::FishRequest("", "templates/new-workspace-template", "WAY-TOO-LONG-ACRONYM");
  const std::string rejected = absl::Base64Escape(wire::RunRequestToJson(invalid));
  const std::string tired = absl::Base64Escape(ReadFixture("datahub/resource-run-request.new-workspace.json"));
  // `tired` is dequeued 5 times first (by someone else, say a crashing
  // consumer), made visible again at once each time.
  std::map<std::string, std::string> text_of_id;
  auto tired_put = q.PutMessage(c.run_request_queue, tired);
  ASSERT_TRUE(tired_put.ok()) << tired_put.status();
  text_of_id[tired_put->id] = tired;
  for (int i = 1; i <= 5; ++i) {
    auto got = q.GetMessages(c.run_request_queue, 1, 30);
    ASSERT_TRUE(got.ok() && got->size() == 1u);
    ASSERT_EQ((*got)[0].dequeue_count, i);
    ASSERT_TRUE(q.UpdateVisibility(c.run_request_queue, (*got)[0].id, (*got)[0].pop_receipt, 0).ok());
  }
  for (const std::string* t : {&not_json, &bad_field, &rejected}) {
    auto put = q.PutMessage(c.run_request_queue, *t);
    ASSERT_TRUE(put.ok()) << put.status();
    text_of_id[put->id] = *t;
  }

  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();
  std::vector<json> poison;
  ASSERT_TRUE(WaitFor([&] {
    DrainJson(q, c.run_request_poison_queue, &poison);
    return poison.size() >= 4u;
  }, 30)) << json(poison).dump();
  EXPECT_EQ(poison.size(), 4u);
  std::map<std::string, std::string> reason_of;
  for (const json& p : poison) {
    std::string id = p["messageId"];
    ASSERT_TRUE(text_of_id.count(id)) << p.dump();
    EXPECT_EQ(p["messageText"], text_of_id[id]) << "the original text travels as it was";
    EXPECT_EQ(p["queue"], c.run_request_queue);
    EXPECT_GE(p["dequeueCount"].get<int>(), 1);
    reason_of[text_of_id[id]] = p["reason"];
  }
  EXPECT_NE(reason_of[not_json].find("cannot decode"), std::string::npos) << reason_of[not_json];
  EXPECT_NE(reason_of[bad_field].find("workspace"), std::string::npos) << reason_of[bad_field];
  EXPECT_NE(reason_of[rejected].find("INVALID_ARGUMENT"), std::string::npos) << reason_of[rejected];
  EXPECT_NE(reason_of[rejected].find("acronym"), std::string::npos) << reason_of[rejected];
  EXPECT_NE(reason_of[tired].find("dequeued 6 times"), std::string::npos) << reason_of[tired];

  // Nothing stays on the source queue, and no run came out of any of them
  // (the over-dequeued one was valid, but is not processed).
  EXPECT_TRUE(WaitFor([&] { return Count(q, c.run_request_queue) == 0; }, 10));
  EXPECT_TRUE(ListRuns(server.Channel()).empty());
}

TEST(StorageQueueFlow, RedeliveredMessageIdMakesOneRun) {
  TempDir dir;
  TestServer server(dir.path());
  auto ch = server.Channel();
  GatewayConfig c = QueueGatewayConfig(server.server().grpc_address(), "redeliver");
  QueueClient q(AzuriteQueueAccount());
  ASSERT_TRUE(q.CreateQueue(c.run_request_queue).ok());
  auto put = q.PutMessage(c.run_request_queue,
                          absl::Base64Escape(ReadFixture("datahub/resource-run-request.new-workspace.json")));
  ASSERT_TRUE(put.ok());

  // An earlier gateway took the message, had it accepted, and died before
  // deleting it: the message comes back after its visibility timeout.
  auto got = q.GetMessages(c.run_request_queue, 1, 1);
  ASSERT_TRUE(got.ok() && got->size() == 1u);
  auto req = wire::RunRequestFromJson((*got)[0].text, (*got)[0].id);
  ASSERT_TRUE(req.ok()) << req.status();
  v1::Run first;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(v1::ResourcingService::NewStub(ch)->SubmitRun(&ctx, *req, &first).ok());
  }

  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();
  // The gateway sees it again (dequeue count 2), submits it again with the
  // same request_id, and deletes it.
  ASSERT_TRUE(WaitFor([&] { return Count(q, c.run_request_queue) == 0; }, 30));
  auto runs = ListRuns(ch);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].name(), first.name());
  EXPECT_EQ(runs[0].request_id(), put->id);
  EXPECT_TRUE(Count(q, c.run_request_poison_queue) == 0);

  // The same message id put again (a sender retrying) is still one run.
  // (A new message gets a new id, so this is a redelivery by hand.)
  auto req2 = wire::RunRequestFromJson(ReadFixture("datahub/resource-run-request.new-workspace.json"), put->id);
  ASSERT_TRUE(req2.ok());
  v1::Run again;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(v1::ResourcingService::NewStub(ch)->SubmitRun(&ctx, *req2, &again).ok());
  }
  EXPECT_EQ(again.name(), first.name());
  EXPECT_EQ(ListRuns(ch).size(), 1u);
}


TEST(StorageQueueFlow, ServerStoppedMessagesStayOnTheQueue) {
  TempDir dir;
  core::ServerConfig sc;
  sc.data_dir = dir.path();
  sc.grpc_address = absl::StrCat("127.0.0.1:", FreePort());
  sc.http_address = "127.0.0.1:0";
  sc.shutdown_grace_seconds = 1;
  auto server = Server::Start(sc);
  ASSERT_TRUE(server.ok()) << server.status();

  GatewayConfig c = QueueGatewayConfig(sc.grpc_address, "down");
  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();
  QueueClient q(AzuriteQueueAccount());
  ASSERT_TRUE(WaitFor([&] { return q.PeekMessages(c.run_request_queue, 1).ok(); }, 10)) << "the gateway creates its queue";

  (*server)->Shutdown();
  server->reset();
  auto put = q.PutMessage(c.run_request_queue,
                          absl::Base64Escape(ReadFixture("datahub/resource-run-request.new-workspace.json")));
  ASSERT_TRUE(put.ok());
  // Long enough for several polls and backoffs.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  auto left = Peek(q, c.run_request_queue);
  ASSERT_EQ(left.size(), 1u) << "the message stays, visible";
  EXPECT_EQ(left[0].id, put->id);
  EXPECT_LE(left[0].dequeue_count, 1) << "an outage does not burn the dequeue budget";
  EXPECT_TRUE(Count(q, c.run_request_poison_queue) == 0);

  // The server comes back on the same address: the message is processed.
  auto again = Server::Start(sc);
  ASSERT_TRUE(again.ok()) << again.status();
  auto ch = grpc::CreateChannel(sc.grpc_address, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(WaitFor([&] { return Count(q, c.run_request_queue) == 0; }, 30));
  auto runs = ListRuns(ch);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].request_id(), put->id);
  (*gw)->Stop();
  (*again)->Shutdown();
}

TEST(StorageQueueConfig, ValidatesKeysNamingTheKey) {
  GatewayConfig c;
  EXPECT_TRUE(storage_queue::ValidateStorageQueueConfig(c).ok()) << "disabled: nothing to check";
  c.azure_queue_endpoint = "http://127.0.0.1:10001/devstoreaccount1";
  c.azure_storage_account = "devstoreaccount1";
  c.azure_storage_key = "a2V5";
  EXPECT_TRUE(storage_queue::ValidateStorageQueueConfig(c).ok());
  auto check = [&](GatewayConfig bad, const std::string& key) {
    absl::Status s = storage_queue::ValidateStorageQueueConfig(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(s.message().substr(0, key.size()), key) << s;
  };
  GatewayConfig b = c;
  b.azure_queue_endpoint = "ftp://x";
  check(b, "azure_queue_endpoint");
  b = c;
  b.azure_storage_account = "";
  check(b, "azure_storage_account");
  b = c;
  b.azure_storage_key = "not base64!";
  check(b, "azure_storage_key");
  b = c;
  b.status_queue = "Terraform_Output";
  check(b, "status_queue");
  b = c;
  b.run_request_queue = "a--b";
  check(b, "run_request_queue");
  b = c;
  b.run_request_poison_queue = "ab";
  check(b, "run_request_poison_queue");
  b = c;
  b.azure_queue_message_encoding = "utf8";
  check(b, "azure_queue_message_encoding");
  b = c;
  b.azure_queue_visibility_timeout_seconds = 0;
  check(b, "azure_queue_visibility_timeout_seconds");
  b = c;
  b.status_queue_cursor = "";
  check(b, "status_queue_cursor");
  b = c;
  b.pipeline_output_queue = "-x-";
  check(b, "pipeline_output_queue");
  EXPECT_TRUE(storage_queue::IsValidQueueName("resource-run-request-poison"));
  EXPECT_FALSE(storage_queue::IsValidQueueName(std::string(64, 'a')));
  // Gateway::Start refuses a bad adapter config (through LoadConfig's checks too).
  b = c;
  b.status_queue = "BAD";
  EXPECT_EQ(ValidateConfig(b).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace switchboard::gateway
