// POST /api/eventgrid with a real switchboardd and a local capture server
// playing the outbound topic.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "gateway/eventgrid/endpoint.h"
#include "gateway/eventgrid/responses.h"
#include "gateway/gateway.h"
#include "tests/core/test_support.h"
#include "tests/gateway/capture_server.h"
#include "tests/gateway/http_client.h"

namespace switchboard::gateway {
namespace {

using nlohmann::json;
using switchboard::testing::CaptureServer;
using switchboard::testing::HttpClient;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(SB_FIXTURES_DIR) + "/eventgrid/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class EventGridEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(dir_.path());
    GatewayConfig c;
    c.server = server_->server().grpc_address();
    c.http_address = "127.0.0.1:0";
    c.eventgrid_key = "in-key";
    c.eventgrid_topic_url = capture_.url();
    c.eventgrid_topic_key = "out-key";
    auto gw = Gateway::Start(c);
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    client_ = std::make_unique<HttpClient>(gateway_->http_address());
  }

  CaptureServer capture_;
  TempDir dir_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(EventGridEndpointTest, ValidationHandshakeWithHeaderOrCode) {
  std::string body = Fixture("subscription-validation.json");
  auto r = client_->Post("/api/eventgrid", body, {{"aeg-sas-key", "in-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json({{"validationResponse", "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}));
  r = client_->Post("/api/eventgrid?code=in-key", body);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(capture_.posts(), 0);
}

TEST_F(EventGridEndpointTest, BadKeysAre401) {
  std::string body = Fixture("subscription-validation.json");
  EXPECT_EQ(client_->Post("/api/eventgrid", body).status, 401);
  EXPECT_EQ(client_->Post("/api/eventgrid", body, {{"aeg-sas-key", "in-ke"}}).status, 401);
  EXPECT_EQ(client_->Post("/api/eventgrid?code=in-key2", body).status, 401);
  // A wrong header is not rescued by a right code.
  EXPECT_EQ(client_->Post("/api/eventgrid?code=in-key", body, {{"aeg-sas-key", "nope"}}).status, 401);
}

TEST_F(EventGridEndpointTest, OverOneMegabyteIs413) {
  json big = json::array();
  big.push_back({{"id", "x"}, {"eventType", "request.blob.delete"}, {"data", {{"pad", std::string(1 << 20, 'a')}}}});
  auto r = client_->Post("/api/eventgrid", big.dump(), {{"aeg-sas-key", "in-key"}});
  EXPECT_EQ(r.status, 413) << r.body;
}

TEST_F(EventGridEndpointTest, MalformedBodiesAre400NamingTheField) {
  std::map<std::string, std::string> key = {{"aeg-sas-key", "in-key"}};
  auto r = client_->Post("/api/eventgrid", "{\"id\":1}", key);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("array"), std::string::npos) << r.body;
  r = client_->Post("/api/eventgrid", R"([{"id":"a","eventType":"x","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"1.0","data":{}},{"eventType":"y","data":{}}])", key);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("[1].id"), std::string::npos) << r.body;
  r = client_->Post("/api/eventgrid", R"([{"id":"a","eventType":"x","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"1.0","data":7}])", key);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("[0].data"), std::string::npos) << r.body;
  r = client_->Post("/api/eventgrid", "[", key);
  EXPECT_EQ(r.status, 400);
  r = client_->Post("/api/eventgrid",
                    R"([{"id":"a","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"1.0","data":{}}])", key);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("validationCode"), std::string::npos) << r.body;
  // The schema's required envelope fields, and duplicate keys.
  r = client_->Post("/api/eventgrid", R"([{"id":"a","eventType":"x","subject":"","dataVersion":"1.0","data":{}}])", key);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("[0].eventTime: required"), std::string::npos) << r.body;
  r = client_->Post("/api/eventgrid", R"([{"id":"a","eventType":"x","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"1.0","data":{"k":1,"k":2}}])", key);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("[0].data.k: duplicate key"), std::string::npos) << r.body;
  EXPECT_EQ(capture_.posts(), 0);
}

TEST_F(EventGridEndpointTest, EventTypeNoHandlerServesGetsTheGatewayFailure) {
  json batch = json::parse(Fixture("request.blob.metadata.create.json"));
  batch[0]["eventType"] = "contoso.order.created";
  auto r = client_->Post("/api/eventgrid", batch.dump(), {{"aeg-sas-key", "in-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  // Not a request: no acknowledge, only the failure.
  ASSERT_TRUE(capture_.WaitForEvents(1, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto events = capture_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["eventType"], "response.failure");
  EXPECT_EQ(events[0]["data"]["logEventId"], eventgrid::kFailureUnknownEventType);
  EXPECT_EQ(events[0]["subject"], "gridwichFailure/EventGridGateway/409001");
}

// An unknown request.* type reaches the media handler, whose codec refuses
// it: the codec's acknowledge and response.failure (logEventId 230002).
TEST_F(EventGridEndpointTest, UnknownEventTypeGetsAckThenFailureWithContextEchoed) {
  json batch = json::parse(Fixture("request.blob.metadata.create.json"));
  batch[0]["eventType"] = "request.blob.teleport";
  auto r = client_->Post("/api/eventgrid", batch.dump(), {{"aeg-sas-key", "in-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(capture_.WaitForEvents(2, std::chrono::seconds(5)));
  auto events = capture_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(capture_.Keys()[0], "out-key");
  const json& ack = events[0];
  EXPECT_EQ(ack["eventType"], "response.acknowledge");
  EXPECT_EQ(ack["dataVersion"], "1.0");
  EXPECT_EQ(ack["data"]["eventType"], "request.blob.teleport");
  EXPECT_EQ(ack["data"]["operationContext"], json({{"prodID", 10}, {"dc", "abc"}}));
  EXPECT_EQ(ack["subject"], "/requests/test/" + ack["id"].get<std::string>());
  const json& failure = events[1];
  EXPECT_EQ(failure["eventType"], "response.failure");
  EXPECT_EQ(failure["data"]["operationContext"], json({{"prodID", 10}, {"dc", "abc"}}));
  EXPECT_EQ(failure["data"]["logEventId"], wire::kLogRequestUnknownType);
  EXPECT_NE(failure["data"]["logEventMessage"].get<std::string>().find("request.blob.teleport"), std::string::npos);
  EXPECT_EQ(failure["subject"], "gridwichFailure/EventGridRequestHandler/230002");
  EXPECT_EQ(failure["data"]["logRecordId"].get<std::string>().size(), 36u);
  EXPECT_EQ(failure["data"]["handlerId"].get<std::string>().size(), 36u);
  EXPECT_NE(ack["id"], failure["id"]);
}

TEST_F(EventGridEndpointTest, TopicDownMeans503SoEventGridRetries) {
  json batch = json::parse(Fixture("request.blob.metadata.create.json"));
  batch[0]["eventType"] = "something.else";
  capture_.FailNext(1000, 500);
  auto r = client_->Post("/api/eventgrid", batch.dump(), {{"aeg-sas-key", "in-key"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_GE(capture_.posts(), 2);  // retried before giving up
  capture_.FailNext(0, 500);
  r = client_->Post("/api/eventgrid", batch.dump(), {{"aeg-sas-key", "in-key"}});
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(capture_.WaitForEvents(1, std::chrono::seconds(5)));
  // Not a request.*: no ack, only the failure.
  EXPECT_EQ(capture_.Events()[0]["eventType"], "response.failure");
}

// A handler that makes a real gRPC call (a bus Publish) for a test
// eventType, to drive the endpoint's accept / reject / unavailable paths.
class PublishHandler : public eventgrid::Handler {
 public:
  explicit PublishHandler(std::shared_ptr<grpc::Channel> channel) : stub_(v1::NotificationService::NewStub(channel)) {}
  bool Handles(const std::string& t) const override { return t == "test.publish"; }
  std::string HandlerClassName(const std::string&) const override { return "TestPublishHandler"; }
  grpc::Status Submit(const eventgrid::Event& e, const std::string& request_id) override {
    v1::PublishRequest req;
    *req.mutable_envelope() = switchboard::testing::Envelope(request_id, e.data.value("routingKey", "a.b"));
    v1::PublishResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return stub_->Publish(&ctx, req, &resp);
  }

 private:
  std::unique_ptr<v1::NotificationService::Stub> stub_;
};

TEST(EventGridEndpointHandlers, AcceptedRejectedAndUnavailable) {
  TempDir dir;
  TestServer server(dir.path());
  CaptureServer capture;
  eventgrid::HandlerRegistry registry;
  registry.Add(std::make_unique<PublishHandler>(server.Channel()));
  eventgrid::TopicOptions topts;
  topts.url = capture.url();
  topts.key = "k";
  eventgrid::TopicClient topic(topts);
  Metrics metrics;
  eventgrid::Endpoint endpoint("in", &registry, &topic, &metrics);
  httpserver::Request req;
  req.method = "POST";
  req.headers["aeg-sas-key"] = "in";
  req.body = R"([{"id":"11111111-1111-4111-8111-111111111111","eventType":"test.publish","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"1.0","data":{}},
                 {"id":"22222222-2222-4222-8222-222222222222","eventType":"test.publish","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"1.0","data":{"routingKey":"a..b"}}])";
  auto r = endpoint.Handle(req);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "accepted 1 of 2 events\n");
  // The accepted one is in the server; the rejected one became a failure.
  auto stub = server.Notification();
  grpc::ClientContext ctx;
  v1::GetBusEventRequest get;
  get.set_name("busEvents/11111111-1111-4111-8111-111111111111");
  v1::BusEvent got;
  EXPECT_TRUE(stub->GetBusEvent(&ctx, get, &got).ok());
  ASSERT_TRUE(capture.WaitForEvents(1, std::chrono::seconds(5)));
  auto events = capture.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["eventType"], "response.failure");
  EXPECT_EQ(events[0]["data"]["eventHandlerClassName"], "TestPublishHandler");
  EXPECT_EQ(events[0]["data"]["logEventId"], eventgrid::kFailureRejected);
  // Redelivering the same batch is idempotent for the accepted event.
  EXPECT_EQ(endpoint.Handle(req).status, 200);
  server.Shutdown();
  r = endpoint.Handle(req);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("retry later"), std::string::npos);
  EXPECT_NE(metrics.Render().find("switchboard_gateway_errors_total{kind=\"eventgrid_unavailable\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace switchboard::gateway
