// Which operations Event Grid hears about (issue 19): the publisher sends
// the topic only the events of operations whose request came through
// POST /api/eventgrid, plus storage events no operation caused; a gRPC
// client's own operations stay on gRPC. And whatever that rule lets
// through, no write-capable SAS URL leaves through the topic.

#include <gtest/gtest.h>

#include <thread>

#include "gateway/eventgrid/outbound.h"
#include "gateway/eventgrid/responses.h"
#include "gateway/eventgrid/topic_rule.h"
#include "gateway/gateway.h"
#include "gateway/http/metrics.h"
#include "server/blob/local_blob_store.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "tests/core/test_support.h"
#include "tests/gateway/capture_server.h"
#include "tests/gateway/http_client.h"

namespace switchboard::gateway {
namespace {

using nlohmann::json;
using switchboard::testing::CaptureServer;
using switchboard::testing::HttpClient;
using switchboard::testing::NewRequestId;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;

constexpr char kBlob[] = "https://devstoreaccount1.blob.core.windows.net/media/input/clip.mp4";

TEST(WriteSas, OnlyReadOnlySignedUrlsPass) {
  using eventgrid::HoldsWriteSas;
  std::string sp;
  EXPECT_FALSE(HoldsWriteSas("https://a.blob.core.windows.net/c/b?sv=2021-08-06&sp=r&se=x&sig=abc%3D"));
  EXPECT_FALSE(HoldsWriteSas("https://a.blob.core.windows.net/c?sv=1&sp=rl&sig=abc"));
  EXPECT_FALSE(HoldsWriteSas("https://a.blob.core.windows.net/c/b"));  // not signed
  EXPECT_FALSE(HoldsWriteSas("https://a/c/b?sp=w"));                   // not signed either
  EXPECT_FALSE(HoldsWriteSas("https://a/c/b?xsig=1&sp=w"));
  EXPECT_TRUE(HoldsWriteSas("https://a.blob.core.windows.net/c/b?sv=2021&sp=cw&sig=abc", &sp));
  EXPECT_EQ(sp, "cw");
  EXPECT_TRUE(HoldsWriteSas("https://a/c/b?sv=1&ss=b&srt=sco&sp=rwdlac&sig=abc"));  // an account SAS
  EXPECT_TRUE(HoldsWriteSas("https://a/c/b?SP=RD&SIG=abc"));                         // any case
  EXPECT_TRUE(HoldsWriteSas("https://a/c/b?sv=1&si=policy&sig=abc", &sp));           // permissions unknown
  EXPECT_EQ(sp, "");
  EXPECT_TRUE(HoldsWriteSas("sv=1&sp=w&sig=abc"));  // a bare token
  EXPECT_TRUE(HoldsWriteSas("copy failed: https://a/c/b?sp=r&sig=1 then https://a/c/d?sp=a&sig=2 refused"));
  EXPECT_TRUE(eventgrid::JsonHoldsWriteSas(json{{"x", {1, {{"deep", "https://a/b?sp=d&sig=z"}}}}}));
  EXPECT_FALSE(eventgrid::JsonHoldsWriteSas(json{{"https://a/b?sp=d&sig=z", 1}}));  // keys are not values
}

TEST(TopicRule, EventGridOperationsAndStorageEventsOnly) {
  v1::MediaEvent e;
  e.set_operation("operations/1");
  e.set_acknowledged(v1::CREATE_SAS_URL);
  EXPECT_FALSE(eventgrid::PublishedToTopic(e));  // a gRPC client's
  e.mutable_echo()->set_origin(v1::REQUEST_ORIGIN_EVENT_GRID);
  EXPECT_TRUE(eventgrid::PublishedToTopic(e));

  v1::MediaEvent s;
  s.mutable_storage()->set_kind(v1::StorageEvent::BLOB_CREATED);
  EXPECT_TRUE(eventgrid::PublishedToTopic(s));  // no operation caused it
  s.set_operation("operations/2");               // a gRPC client's copy
  EXPECT_FALSE(eventgrid::PublishedToTopic(s));
  s.mutable_echo()->set_origin(v1::REQUEST_ORIGIN_EVENT_GRID);
  EXPECT_TRUE(eventgrid::PublishedToTopic(s));
}

TEST(WriteSas, AWriteSasBecomesA409004FailureWithTheContext) {
  Metrics metrics;
  eventgrid::Event e = eventgrid::NewResponse(
      "response.blob.sas-url.success", "/response.blob.sas-url.success/x",
      json{{"operationContext", {{"k", 1}}}, {"sasUrl", "https://a/c/b?sv=1&sp=cw&sig=SECRET"}});
  std::string text = eventgrid::TopicJson(e, eventgrid::TopicLimits{}, &metrics);
  EXPECT_EQ(text.find("SECRET"), std::string::npos) << text;
  json out = json::parse(text);
  EXPECT_EQ(out["eventType"], "response.failure");
  EXPECT_EQ(out["data"]["logEventId"], eventgrid::kFailureWriteSasWithheld);
  EXPECT_EQ(out["data"]["operationContext"], json({{"k", 1}}));
  EXPECT_EQ(out["subject"], "gridwichFailure/EventGridGateway/409004");
  EXPECT_NE(metrics.Render().find("kind=\"eventgrid_write_sas_withheld\"} 1"), std::string::npos);
  // A write SAS put in the operationContext does not leave with the failure.
  e.data["operationContext"] = {{"url", "https://a/c/b?sp=w&sig=SECRET2"}};
  text = eventgrid::TopicJson(e, eventgrid::TopicLimits{}, nullptr);
  EXPECT_EQ(text.find("SECRET"), std::string::npos) << text;
  // A read SAS goes as it is.
  e.data = {{"operationContext", {{"k", 1}}}, {"sasUrl", "https://a/c/b?sv=1&sp=r&sig=FINE"}};
  EXPECT_EQ(eventgrid::TopicJson(e, eventgrid::TopicLimits{}, nullptr), eventgrid::Serialize(e));
}

// switchboardd with the fixtures' blob, the gateway in-process, the topic
// played by a CaptureServer.
class TopicRuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blob::LocalBlobStoreOptions o;
    o.root = dir_.path() + "/blobs";
    o.base_url = [] { return std::string("http://127.0.0.1"); };
    auto store = blob::LocalBlobStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->CreateContainer("devstoreaccount1", "media").ok());
    std::string bytes = "not really a clip";
    bool given = false;
    auto put = (*store)->PutBlob({"devstoreaccount1", "media", "input/clip.mp4"}, static_cast<int64_t>(bytes.size()),
                                 [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
                                   if (given) return size_t{0};
                                   given = true;
                                   size_t n = std::min(cap, bytes.size());
                                   std::copy_n(bytes.data(), n, buf);
                                   return n;
                                 },
                                 blob::PutOptions());
    ASSERT_TRUE(put.ok()) << put.status();
    store->reset();
    server_ = std::make_unique<TestServer>(dir_.path());
    media_ = v1::MediaService::NewStub(server_->Channel());
    GatewayConfig c;
    c.server = server_->server().grpc_address();
    c.http_address = "127.0.0.1:0";
    c.eventgrid_key = "in-key";
    c.eventgrid_topic_url = topic_.url();
    c.eventgrid_topic_key = "out-key";
    auto gw = Gateway::Start(c);
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    client_ = std::make_unique<HttpClient>(gateway_->http_address());
  }

  // A gRPC CreateSasUrl, as `sbctl blob upload` makes it.
  v1::Operation CreateSas(const std::string& who, const std::string& permissions, v1::RequestOrigin origin) {
    grpc::ClientContext ctx;
    v1::CreateSasUrlRequest req;
    req.set_request_id(NewRequestId());
    req.set_blob_uri(kBlob);
    req.set_sec_to_live(600);
    req.set_permissions(permissions);
    req.set_origin(origin);
    (*req.mutable_operation_context()->mutable_fields())["who"].set_string_value(who);
    v1::Operation op;
    grpc::Status s = media_->CreateSasUrl(&ctx, req, &op);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(op.state(), v1::Operation::SUCCEEDED) << op.DebugString();
    return op;
  }

  // Waits for an event of `type` whose operationContext is `context`.
  bool WaitFor(const std::string& type, const json& context) {
    for (int i = 0; i < 200; ++i) {
      for (const auto& e : topic_.Events()) {
        if (e.value("eventType", "") == type && e["data"].value("operationContext", json()) == context) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string AllBodies() {
    std::string all;
    for (const auto& b : topic_.Bodies()) all += b;
    return all;
  }

  TempDir dir_;
  CaptureServer topic_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<v1::MediaService::Stub> media_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(TopicRuleTest, AGrpcClientsOwnOperationsStayOnGrpc) {
  // What `sbctl blob upload` does: a write SAS over gRPC.
  v1::Operation sas = CreateSas("grpc", "cw", v1::REQUEST_ORIGIN_UNSPECIFIED);
  ASSERT_NE(sas.sas_url().find("sp=cw"), std::string::npos) << sas.sas_url();
  {
    grpc::ClientContext ctx;
    v1::SetBlobMetadataRequest req;
    req.set_request_id(NewRequestId());
    req.set_blob_uri(kBlob);
    (*req.mutable_blob_metadata())["k"] = "v";
    (*req.mutable_operation_context()->mutable_fields())["who"].set_string_value("grpc");
    v1::Operation op;
    ASSERT_TRUE(media_->SetBlobMetadata(&ctx, req, &op).ok());
  }
  {
    // A storage event no operation caused: published.
    grpc::ClientContext ctx;
    v1::ReportStorageEventRequest req;
    req.set_request_id(NewRequestId());
    req.mutable_event()->set_kind(v1::StorageEvent::BLOB_CREATED);
    req.mutable_event()->set_blob_uri("https://devstoreaccount1.blob.core.windows.net/media/reported.mp4");
    v1::StorageEvent got;
    ASSERT_TRUE(media_->ReportStorageEvent(&ctx, req, &got).ok());
  }
  // Then the same request through Event Grid: its responses are published.
  json batch = json::array({{{"id", "11111111-2222-4333-8444-555555555555"},
                             {"eventType", "request.blob.sas-url.create"},
                             {"subject", "/requests/test"},
                             {"eventTime", "2026-11-22T10:00:00Z"},
                             {"dataVersion", "1.0"},
                             {"data", {{"operationContext", {{"who", "eventgrid"}}}, {"blobUri", kBlob}, {"secToLive", 600}}}}});
  auto r = client_->Post("/api/eventgrid", batch.dump(), {{"aeg-sas-key", "in-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(WaitFor("response.blob.sas-url.success", json({{"who", "eventgrid"}})));

  // The publisher goes in log order: everything before the Event Grid
  // request was read before its success went out.
  std::vector<std::string> types;
  for (const auto& e : topic_.Events()) {
    EXPECT_NE(e["data"].value("operationContext", json()), json({{"who", "grpc"}})) << e.dump();
    types.push_back(e["eventType"]);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"response.blob.created.success", "response.acknowledge",
                                             "response.blob.sas-url.success"}));
  std::string sig = sas.sas_url().substr(sas.sas_url().find("sig="));
  EXPECT_EQ(AllBodies().find(sig), std::string::npos);
  EXPECT_EQ(AllBodies().find("sp=cw"), std::string::npos);
  // The Event Grid one is a read SAS, sent as it is.
  for (const auto& e : topic_.Events()) {
    if (e["eventType"] == "response.blob.sas-url.success") {
      EXPECT_NE(e["data"]["sasUrl"].get<std::string>().find("sp=r&"), std::string::npos) << e.dump();
    }
  }
}

// The last line: a gRPC client that claims to be Event Grid (origin set)
// gets its operation onto the topic, but never its write SAS.
TEST_F(TopicRuleTest, AWriteSasNeverLeavesThroughTheTopicEvenWhenTheRuleLetsItThrough) {
  v1::Operation sas = CreateSas("posing", "cw", v1::REQUEST_ORIGIN_EVENT_GRID);
  ASSERT_TRUE(WaitFor("response.failure", json({{"who", "posing"}})));
  std::vector<std::string> types;
  for (const auto& e : topic_.Events()) {
    types.push_back(e["eventType"]);
    if (e["eventType"] == "response.failure") {
      EXPECT_EQ(e["data"]["logEventId"], eventgrid::kFailureWriteSasWithheld);
      EXPECT_NE(e["data"]["logEventMessage"].get<std::string>().find("permissions 'cw'"), std::string::npos);
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{"response.acknowledge", "response.failure"}));
  std::string sig = sas.sas_url().substr(sas.sas_url().find("sig="));
  EXPECT_EQ(AllBodies().find(sig), std::string::npos);
  auto metrics = client_->Get("/metrics");
  EXPECT_NE(metrics.body.find("switchboard_gateway_errors_total{kind=\"eventgrid_write_sas_withheld\"} 1"),
            std::string::npos)
      << metrics.body;
}

// How a request arrived is not part of what its request_id names: the
// same request again with another origin is a replay of the first, whose
// origin stays.
TEST_F(TopicRuleTest, TheOriginIsNotPartOfTheIdempotencyFingerprint) {
  v1::SetBlobMetadataRequest req;
  req.set_request_id(NewRequestId());
  req.set_blob_uri(kBlob);
  (*req.mutable_blob_metadata())["k"] = "v";
  v1::Operation first, again;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(media_->SetBlobMetadata(&ctx, req, &first).ok());
  }
  req.set_origin(v1::REQUEST_ORIGIN_EVENT_GRID);
  {
    grpc::ClientContext ctx;
    grpc::Status s = media_->SetBlobMetadata(&ctx, req, &again);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(again.name(), first.name());
  EXPECT_EQ(again.echo().origin(), v1::REQUEST_ORIGIN_UNSPECIFIED);
}

}  // namespace
}  // namespace switchboard::gateway
