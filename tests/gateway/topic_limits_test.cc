// Event Grid's limits on the way out (issue 19): every POST to the topic,
// on every path, is at most 1 MB (1,048,576 bytes of body) and at most 100
// events, and the events keep their order. The splitter (outbound.h) on its
// own, then the endpoint's refusals through a real gateway, a real
// switchboardd and the loopback topic (CaptureServer), whose received
// bodies are what is measured.

#include <gtest/gtest.h>

#include <cstdio>

#include "gateway/eventgrid/outbound.h"
#include "gateway/eventgrid/responses.h"
#include "gateway/eventgrid/topic_client.h"
#include "gateway/gateway.h"
#include "gateway/http/metrics.h"
#include "tests/core/test_support.h"
#include "tests/gateway/capture_server.h"
#include "tests/gateway/http_client.h"

namespace switchboard::gateway {
namespace {

using eventgrid::Event;
using eventgrid::kTopicMaxBodyBytes;
using eventgrid::kTopicMaxEvents;
using nlohmann::json;
using switchboard::testing::CaptureServer;
using switchboard::testing::HttpClient;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;

std::string Num(const char* format, int i) {
  char buf[64];
  snprintf(buf, sizeof buf, format, i);
  return buf;
}

Event Response(int i, size_t pad) {
  Event e = eventgrid::NewResponse("response.test", Num("/s/%d", i),
                                   json{{"operationContext", {{"i", i}}}, {"pad", std::string(pad, 'p')}});
  return e;
}

// Every body is a JSON array within Event Grid's limits.
void ExpectWithinLimits(const std::vector<std::string>& bodies, size_t max_bytes = kTopicMaxBodyBytes,
                        size_t max_events = kTopicMaxEvents) {
  for (size_t k = 0; k < bodies.size(); ++k) {
    EXPECT_LE(bodies[k].size(), max_bytes) << "POST " << k;
    json a = json::parse(bodies[k]);
    ASSERT_TRUE(a.is_array());
    EXPECT_GE(a.size(), 1u) << "POST " << k;
    EXPECT_LE(a.size(), max_events) << "POST " << k;
  }
}

TEST(TopicSplit, KeepsOrderWithinTheCountAndTheBytes) {
  std::vector<Event> events;
  for (int i = 0; i < 1000; ++i) events.push_back(Response(i, 30000));  // ~30 KB each
  eventgrid::TopicLimits limits;                                         // 100 events, 1,000,000 bytes
  auto bodies = eventgrid::SplitForTopic(events, limits, nullptr);
  ExpectWithinLimits(bodies, 1000000);
  EXPECT_GE(bodies.size(), 1000u / 33);  // the bytes bind, not the count
  int next = 0;
  for (const auto& b : bodies) {
    for (const auto& e : json::parse(b)) EXPECT_EQ(e["data"]["operationContext"]["i"], next++);
  }
  EXPECT_EQ(next, 1000);

  // Small events: the count binds.
  events.clear();
  for (int i = 0; i < 250; ++i) events.push_back(Response(i, 10));
  bodies = eventgrid::SplitForTopic(events, limits, nullptr);
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(json::parse(bodies[0]).size(), 100u);
  EXPECT_EQ(json::parse(bodies[2]).size(), 50u);
}

TEST(TopicSplit, ConfiguredLimitsNeverExceedEventGrids) {
  std::vector<Event> events;
  for (int i = 0; i < 300; ++i) events.push_back(Response(i, 20000));
  eventgrid::TopicLimits limits;
  limits.max_events = 5000;        // eventgrid_batch_max_events allows up to 5000
  limits.max_bytes = 50u << 20;    // and a caller could ask for more than 1 MB
  auto bodies = eventgrid::SplitForTopic(events, limits, nullptr);
  ExpectWithinLimits(bodies);
  size_t total = 0;
  for (const auto& b : bodies) total += json::parse(b).size();
  EXPECT_EQ(total, 300u);
}

TEST(TopicSplit, AnEventTooLargeForAnyPostBecomesAFailureInItsPlace) {
  Metrics metrics;
  std::vector<Event> events = {Response(0, 10), Response(1, 1100000), Response(2, 10)};
  auto bodies = eventgrid::SplitForTopic(events, eventgrid::TopicLimits{}, &metrics);
  ExpectWithinLimits(bodies, 1000000);
  std::vector<json> got;
  for (const auto& b : bodies) {
    for (const auto& e : json::parse(b)) got.push_back(e);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0]["eventType"], "response.test");
  EXPECT_EQ(got[1]["eventType"], "response.failure");
  EXPECT_EQ(got[1]["data"]["logEventId"], eventgrid::kFailureEventTooLarge);
  EXPECT_EQ(got[1]["data"]["operationContext"], json({{"i", 1}}));
  std::string message = got[1]["data"]["logEventMessage"];
  EXPECT_NE(message.find(events[1].id), std::string::npos) << message;
  EXPECT_NE(message.find("one Event Grid publish holds at most 1000000"), std::string::npos) << message;
  EXPECT_EQ(got[1]["subject"], "gridwichFailure/EventGridGateway/409005");
  EXPECT_EQ(got[2]["eventType"], "response.test");
  EXPECT_NE(metrics.Render().find("kind=\"eventgrid_event_too_large\"} 1"), std::string::npos);

  // When the operationContext is itself what is too large, it is left out.
  Event huge = eventgrid::NewResponse("response.test", "/s", json{{"operationContext", {{"big", std::string(1100000, 'c')}}}});
  std::string text = eventgrid::TopicJson(huge, eventgrid::TopicLimits{}, nullptr);
  EXPECT_LT(text.size(), 2000u);
  EXPECT_TRUE(json::parse(text)["data"]["operationContext"].is_null());
}

// The last line: the topic client never sends a body over 1 MB, whoever
// built it.
TEST(TopicSplit, TheTopicClientNeverSendsABodyOverOneMegabyte) {
  CaptureServer capture;
  eventgrid::TopicOptions o;
  o.url = capture.url();
  o.key = "k";
  eventgrid::TopicClient topic(o);
  std::string body = "[\"" + std::string(kTopicMaxBodyBytes - 3, 'x') + "\"]";  // 1 byte over
  ASSERT_EQ(body.size(), kTopicMaxBodyBytes + 1);
  auto r = topic.PostOnce(body);
  EXPECT_EQ(r.http_status, 413);
  EXPECT_NE(r.error.find("not sent"), std::string::npos) << r.error;
  absl::Status s = topic.Post(body, std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;  // final: not retried
  EXPECT_EQ(capture.posts(), 0);
  body.erase(2, 1);  // exactly 1 MB: sent
  EXPECT_EQ(topic.PostOnce(body).http_status, 200);
  EXPECT_EQ(capture.posts(), 1);
}

// The case: a 1 MB batch of 9,000 events the gateway refuses itself
// (an unknown request.* type each) answered with 18,000 events (ack and
// failure for each), which went out as one 4.8 MB POST.
class TopicLimitsEndToEnd : public ::testing::Test {
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

  // Every event the topic received, after checking each POST's body as the
  // topic saw it.
  std::vector<json> ReceivedWithinLimits(size_t expected) {
    EXPECT_TRUE(capture_.WaitForEvents(expected, std::chrono::seconds(60)));
    std::vector<json> events;
    size_t largest = 0;
    for (const std::string& body : capture_.Bodies()) {
      largest = std::max(largest, body.size());
      EXPECT_LE(body.size(), kTopicMaxBodyBytes);
      json a = json::parse(body);
      EXPECT_LE(a.size(), kTopicMaxEvents);
      for (auto& e : a) events.push_back(std::move(e));
    }
    EXPECT_GT(largest, 0u);
    return events;
  }

  CaptureServer capture_;
  TempDir dir_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(TopicLimitsEndToEnd, NineThousandRefusedEventsGoOutInPostsWithinTheLimitsInOrder) {
  constexpr int kEvents = 9000;
  json batch = json::array();
  for (int i = 0; i < kEvents; ++i) {
    batch.push_back({{"id", Num("%04d", i)},
                     {"eventType", Num("request.%04d", i)},
                     {"subject", ""},
                     {"eventTime", "2026-11-22T10:00:00Z"},
                     {"dataVersion", ""},
                     {"data", json::object()}});
  }
  std::string body = batch.dump();
  ASSERT_LE(body.size(), size_t{1} << 20);  // what Event Grid may deliver
  ASSERT_GT(body.size(), 1000000u);
  auto r = client_->Post("/api/eventgrid", body, {{"aeg-sas-key", "in-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "accepted 0 of 9000 events\n");

  std::vector<json> events = ReceivedWithinLimits(2 * kEvents);
  ASSERT_EQ(events.size(), 2u * kEvents);
  EXPECT_GE(capture_.posts(), 2 * kEvents / static_cast<int>(kTopicMaxEvents));
  for (int i = 0; i < kEvents; ++i) {
    const json& ack = events[2 * i];
    const json& failure = events[2 * i + 1];
    ASSERT_EQ(ack["eventType"], "response.acknowledge") << i;
    ASSERT_EQ(ack["data"]["eventType"], Num("request.%04d", i)) << i;
    ASSERT_EQ(failure["eventType"], "response.failure") << i;
    ASSERT_NE(failure["data"]["logEventMessage"].get<std::string>().find(Num("request.%04d", i)), std::string::npos)
        << i;
  }
}

// 4,000 requests naming an invalid container: refused by switchboardd
// (SubmitBatch), answered by the gateway with ack + failure, operationContext
// echoed (3.6 MB in one POST before).
TEST_F(TopicLimitsEndToEnd, FourThousandInvalidContainersGoOutInPostsWithinTheLimitsInOrder) {
  constexpr int kEvents = 4000;
  json batch = json::array();
  for (int i = 0; i < kEvents; ++i) {
    batch.push_back({{"id", Num("c%05d", i)},
                     {"eventType", "request.blob.container.create"},
                     {"subject", ""},
                     {"eventTime", "2026-11-22T10:00:00Z"},
                     {"dataVersion", ""},
                     {"data",
                      {{"operationContext", {{"i", i}}},
                       {"storageAccountName", "devstoreaccount1"},
                       {"containerName", Num("Bad_%05d", i)}}}});
  }
  std::string body = batch.dump();
  ASSERT_LE(body.size(), size_t{1} << 20);
  auto r = client_->Post("/api/eventgrid", body, {{"aeg-sas-key", "in-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "accepted 0 of 4000 events\n");

  std::vector<json> events = ReceivedWithinLimits(2 * kEvents);
  ASSERT_EQ(events.size(), 2u * kEvents);
  size_t total = 0;
  for (const auto& b : capture_.Bodies()) total += b.size();
  EXPECT_GT(total, 2u * kTopicMaxBodyBytes);  // what used to be one POST
  for (int i = 0; i < kEvents; ++i) {
    const json& ack = events[2 * i];
    const json& failure = events[2 * i + 1];
    ASSERT_EQ(ack["eventType"], "response.acknowledge") << i;
    ASSERT_EQ(ack["data"]["operationContext"], json({{"i", i}})) << i;
    ASSERT_EQ(failure["eventType"], "response.failure") << i;
    ASSERT_EQ(failure["data"]["operationContext"], json({{"i", i}})) << i;
    ASSERT_NE(failure["data"]["logEventMessage"].get<std::string>().find(Num("Bad_%05d", i)), std::string::npos)
        << failure.dump();
  }
}

}  // namespace
}  // namespace switchboard::gateway
