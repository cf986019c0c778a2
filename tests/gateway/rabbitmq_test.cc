// The RabbitMQ adapter against a real rabbitmq-server (tools/services.sh)
// and a real in-process switchboardd. Fails when SWITCHBOARD_TEST_AMQP_URL
// is missing: run `eval "$(tools/services.sh env)"` first.

#include <gtest/gtest.h>

#include <optional>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "gateway/adapters/rabbitmq/amqp_client.h"
#include "gateway/adapters/rabbitmq/outbound.h"
#include "wire/gorg_envelope.h"
#include "gateway/adapters/rabbitmq/topology.h"
#include "gateway/gateway.h"
#include "tests/core/test_support.h"

namespace switchboard::gateway::rabbitmq {
namespace {

using switchboard::testing::TempDir;
using switchboard::testing::TestServer;
using namespace std::chrono_literals;

std::string AmqpUrl() {
  const char* url = std::getenv("SWITCHBOARD_TEST_AMQP_URL");
  return url ? url : "";
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Names unique to this process and test, so tests never share queues.
std::string Unique(const std::string& what) {
  static int n = 0;
  return what + "_" + std::to_string(getpid()) + "_" + std::to_string(++n);
}

std::string GorgFixture() {
  std::ifstream in(std::string(SB_FIXTURES_DIR) + "/gorg/request.gapps.account.create.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <class F>
bool WaitFor(F f, std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

class RabbitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(AmqpUrl().empty()) << "SWITCHBOARD_TEST_AMQP_URL is not set: run tools/services.sh start and "
                                       "eval \"$(tools/services.sh env)\" (tools/test.sh does both)";
    auto s = admin_.Connect(AmqpUrl());
    ASSERT_TRUE(s.ok()) << s;
    exchange_ = Unique("sbtest_ex");
    app_ = Unique("sbtest_app");
  }

  std::unique_ptr<Gateway> StartGateway(TestServer& server, const std::string& bridge = "", bool tls = false) {
    GatewayConfig c;
    c.server = server.server().grpc_address();
    c.http_address = "127.0.0.1:0";
    c.amqp_url = tls ? Env("SWITCHBOARD_TEST_AMQPS_URL") : AmqpUrl();
    if (tls) c.amqp_ca_file = Env("SWITCHBOARD_TEST_AMQPS_CA");
    c.amqp_exchange = exchange_;
    c.amqp_consume = app_ + ":request.gapps.#";
    c.amqp_bridge = bridge;
    c.timeout_seconds = 2;
    auto gw = Gateway::Start(c);
    EXPECT_TRUE(gw.ok()) << gw.status();
    // Consuming once the job queue exists and has a consumer.
    EXPECT_TRUE(WaitFor([&] { return admin_.QueueDepth(JobQueue(app_)).ok(); }));
    std::this_thread::sleep_for(200ms);
    return gw.ok() ? std::move(*gw) : nullptr;
  }

  void Send(const std::string& body, const std::string& key = "request.gapps.account.create") {
    OutMessage m;
    m.exchange = exchange_;
    m.routing_key = key;
    m.body = body;
    m.app_id = "gram";
    ASSERT_TRUE(admin_.Publish(m).ok());
  }

  bool HasBusEvent(TestServer& server, const std::string& uuid) {
    grpc::ClientContext ctx;
    v1::GetBusEventRequest req;
    req.set_name("busEvents/" + uuid);
    v1::BusEvent e;
    return server.Notification()->GetBusEvent(&ctx, req, &e).ok();
  }

  // A Gorg envelope from the fixture with its own uuid and routing key.
  static v1::BusEnvelope Envelope(int n, const std::string& name) {
    auto e = wire::GorgEnvelopeFromJson(GorgFixture());
    EXPECT_TRUE(e.ok()) << e.status();
    char uuid[64];
    std::snprintf(uuid, sizeof uuid, "%08d-0000-4000-8000-%012d", getpid() % 100000000, n);
    e->set_event_uuid(uuid);
    e->set_event_name(name);
    return *e;
  }

  // The bus subscription `queue`, if it exists.
  static std::optional<v1::Subscription> BusSubscription(TestServer& server, const std::string& queue) {
    grpc::ClientContext ctx;
    v1::GetSubscriptionRequest req;
    req.set_name("subscriptions/" + queue);
    v1::Subscription sub;
    if (!server.Notification()->GetSubscription(&ctx, req, &sub).ok()) return std::nullopt;
    return sub;
  }

  absl::Status BusPublish(TestServer& server, const v1::BusEnvelope& e) {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    req.set_request_id(e.event_uuid());
    *req.mutable_envelope() = e;
    v1::PublishResponse resp;
    grpc::Status s = server.Notification()->Publish(&ctx, req, &resp);
    return s.ok() ? absl::OkStatus() : absl::InternalError(s.error_message());
  }

  // A durable queue bound to the test exchange, to receive what the bridge sends.
  std::string OutQueue(const std::string& binding) {
    std::string q = Unique("sbtest_out_q");
    EXPECT_TRUE(DeclareExchange(admin_, exchange_).ok());
    EXPECT_TRUE(admin_.DeclareQueue(q, true).ok());
    EXPECT_TRUE(admin_.BindQueue(q, exchange_, binding).ok());
    return q;
  }

  AmqpClient admin_;
  std::string exchange_;
  std::string app_;
};

TEST_F(RabbitTest, TopologyRoutesByBindingAndDeferredReturnsToTheJobQueue) {
  ASSERT_TRUE(DeclareExchange(admin_, exchange_).ok());
  GorgApp app{app_, {"request.gapps.#"}};
  ASSERT_TRUE(DeclareApp(admin_, exchange_, app, /*deferred_ttl_ms=*/200).ok());
  ASSERT_TRUE(DeclareApp(admin_, exchange_, app, 200).ok()) << "declaring twice must be fine";
  Send("{\"n\":1}", "request.gapps.account.create");
  Send("{\"n\":2}", "notify.gapps.account.updated");  // not bound
  ASSERT_TRUE(WaitFor([&] { return admin_.QueueDepth(JobQueue(app_)).value_or(0) == 1; }));
  auto got = admin_.Get(JobQueue(app_));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->body, "{\"n\":1}");
  // A message put on the deferred queue comes back to the job queue after the TTL.
  OutMessage later;
  later.exchange = "";
  later.routing_key = DeferredQueue(app_);
  later.body = "{\"n\":3}";
  ASSERT_TRUE(admin_.Publish(later).ok());
  ASSERT_TRUE(WaitFor([&] { return admin_.QueueDepth(JobQueue(app_)).value_or(0) == 1; }, 10s));
  got = admin_.Get(JobQueue(app_));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->body, "{\"n\":3}");
}

TEST_F(RabbitTest, EnvelopeCrossesIntoTheBusAndIsAckedAfterAccept) {
  TempDir dir;
  TestServer server(dir.path());
  auto gw = StartGateway(server);
  ASSERT_TRUE(gw);
  Send(GorgFixture());
  ASSERT_TRUE(WaitFor([&] { return HasBusEvent(server, "88d818a1-c77c-44e6-ad0c-8aa893468e94"); }));
  gw->Stop();  // an unacked message would now return to the queue
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(admin_.QueueDepth(JobQueue(app_)).value_or(99), 0u);
  // The envelope arrived whole.
  grpc::ClientContext ctx;
  v1::GetBusEventRequest req;
  req.set_name("busEvents/88d818a1-c77c-44e6-ad0c-8aa893468e94");
  v1::BusEvent e;
  ASSERT_TRUE(server.Notification()->GetBusEvent(&ctx, req, &e).ok());
  EXPECT_EQ(e.envelope().event_sender_id(), "gram");
  EXPECT_EQ(e.envelope().errors_size(), 1);
  EXPECT_EQ(e.envelope().data().fields().at("id").string_value(), "12453");
}

// amqps://: the gateway verifies the broker against amqp_ca_file (the test
// CA of tools/services.sh, for localhost) and works as over amqp://.
TEST_F(RabbitTest, AmqpsVerifiesTheBrokerAndCarriesEnvelopes) {
  ASSERT_FALSE(Env("SWITCHBOARD_TEST_AMQPS_URL").empty())
      << "SWITCHBOARD_TEST_AMQPS_URL is not set: run tools/services.sh start and eval \"$(tools/services.sh env)\"";
  AmqpClient tls_client;
  auto s = tls_client.Connect(Env("SWITCHBOARD_TEST_AMQPS_URL"), {Env("SWITCHBOARD_TEST_AMQPS_CA"), "", ""});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(DeclareExchange(tls_client, exchange_).ok());

  // Another CA (the system's) does not vouch for the test broker.
  AmqpClient wrong;
  s = wrong.Connect(Env("SWITCHBOARD_TEST_AMQPS_URL"), {"/etc/ssl/certs/ca-certificates.crt", "", ""});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("TLS"), std::string::npos) << s;
  // A CA file that is not there is the caller's mistake, named as such.
  s = wrong.Connect(Env("SWITCHBOARD_TEST_AMQPS_URL"), {"/nonexistent/ca.pem", "", ""});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("amqp_ca_file"), std::string::npos) << s;

  TempDir dir;
  TestServer server(dir.path());
  auto gw = StartGateway(server, "", /*tls=*/true);
  ASSERT_TRUE(gw);
  Send(GorgFixture());
  EXPECT_TRUE(WaitFor([&] { return HasBusEvent(server, "88d818a1-c77c-44e6-ad0c-8aa893468e94"); }));
  gw->Stop();
}

TEST_F(RabbitTest, EnvelopeFromRabbitMQArrivesOverGrpcSubscribe) {
  TempDir dir;
  TestServer server(dir.path());
  {
    grpc::ClientContext ctx;
    v1::CreateSubscriptionRequest req;
    req.set_request_id("sub-1");
    req.mutable_subscription()->set_queue("gappsd_job_q");
    req.mutable_subscription()->add_bindings("request.gapps.#");
    v1::Subscription sub;
    ASSERT_TRUE(server.Notification()->CreateSubscription(&ctx, req, &sub).ok());
  }
  auto gw = StartGateway(server);
  ASSERT_TRUE(gw);
  Send(GorgFixture());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 15s);
  v1::SubscribeRequest req;
  req.set_subscription("subscriptions/gappsd_job_q");
  auto stub = server.Notification();
  auto reader = stub->Subscribe(&ctx, req);
  v1::Delivery d;
  ASSERT_TRUE(reader->Read(&d)) << "no delivery over Subscribe";
  EXPECT_EQ(d.envelope().event_uuid(), "88d818a1-c77c-44e6-ad0c-8aa893468e94");
  EXPECT_EQ(d.envelope().event_name(), "request.gapps.account.create");
  EXPECT_EQ(d.envelope().event_sender_id(), "gram");
  EXPECT_EQ(d.attempt(), 1);
  ctx.TryCancel();
  gw->Stop();
}

TEST_F(RabbitTest, BusEventGoesOutToTheExchangeWithGorgPropertiesAndIsAckedAfterConfirm) {
  TempDir dir;
  TestServer server(dir.path());
  std::string out = OutQueue("notify.gapps.#");
  std::string bridge = Unique("gw_out");
  auto gw = StartGateway(server, bridge + ":notify.gapps.#");
  ASSERT_TRUE(gw);
  // The bridge creates its subscription; wait for it before publishing.
  ASSERT_TRUE(WaitFor([&] { return BusSubscription(server, bridge).has_value(); }));
  v1::BusEnvelope reply = Envelope(1, "notify.gapps.account.updated");
  ASSERT_TRUE(BusPublish(server, reply).ok());
  ASSERT_TRUE(BusPublish(server, Envelope(2, "request.gapps.account.delete")).ok());  // not bridged
  ASSERT_TRUE(WaitFor([&] { return admin_.QueueDepth(out).value_or(0) >= 1; }));
  auto got = admin_.Get(out);
  ASSERT_TRUE(got.ok() && got->has_value());
  const Message& m = **got;
  EXPECT_EQ(m.routing_key, "notify.gapps.account.updated");
  EXPECT_EQ(m.app_id, "gram");
  EXPECT_EQ(m.message_id, reply.event_uuid());
  ASSERT_EQ(m.int_headers.count("softfail-count"), 1u);
  EXPECT_EQ(m.int_headers.at("softfail-count"), 0);
  auto decoded = wire::GorgEnvelopeFromJson(m.body);
  ASSERT_TRUE(decoded.ok()) << decoded.status() << m.body;
  EXPECT_EQ(decoded->SerializeAsString(), reply.SerializeAsString());
  // Acked on the bus: nothing ready or in flight, and nothing else went out.
  ASSERT_TRUE(WaitFor([&] {
    auto sub = BusSubscription(server, bridge);
    return sub && sub->ready_count() == 0 && sub->in_flight_count() == 0;
  }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(admin_.QueueDepth(out).value_or(99), 0u);
  gw->Stop();
}

TEST_F(RabbitTest, BrokerRestartMidStreamLosesNothingEitherWay) {
  TempDir dir;
  TestServer server(dir.path());
  std::string out = OutQueue("notify.gapps.#");
  std::string bridge = Unique("gw_out");
  auto gw = StartGateway(server, bridge + ":notify.gapps.#");
  ASSERT_TRUE(gw);
  constexpr int kEach = 20;
  // Inbound before the restart.
  for (int i = 0; i < kEach; ++i) {
    v1::BusEnvelope e = Envelope(1000 + i, "request.gapps.account.create");
    Send(wire::GorgEnvelopeToJson(e));
  }
  // Outbound all through the restart: the bus is up the whole time.
  std::atomic<bool> publish_failed{false};
  std::thread bus_publisher([&] {
    for (int i = 0; i < 3 * kEach; ++i) {
      if (!BusPublish(server, Envelope(2000 + i, "notify.gapps.account.updated")).ok()) publish_failed = true;
      std::this_thread::sleep_for(100ms);
    }
  });
  std::this_thread::sleep_for(500ms);
  std::string cmd = std::string("'") + SB_SERVICES_SH + "' restart-rabbitmq";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  bus_publisher.join();
  EXPECT_FALSE(publish_failed);
  ASSERT_TRUE(admin_.Connect(AmqpUrl()).ok());
  // Inbound after the restart.
  for (int i = kEach; i < 2 * kEach; ++i) {
    v1::BusEnvelope e = Envelope(1000 + i, "request.gapps.account.create");
    Send(wire::GorgEnvelopeToJson(e));
  }
  for (int i = 0; i < 2 * kEach; ++i) {
    std::string uuid = Envelope(1000 + i, "x").event_uuid();
    EXPECT_TRUE(WaitFor([&] { return HasBusEvent(server, uuid); }, 30s)) << "lost inbound " << uuid;
  }
  // Every bridged event reached the queue (duplicates are allowed: at least once).
  std::set<std::string> seen;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto m = admin_.Get(out);
        if (m.ok() && m->has_value()) seen.insert((*m)->message_id);
        return seen.size() == static_cast<size_t>(3 * kEach);
      },
      60s))
      << "bridged " << seen.size() << " of " << 3 * kEach;
  for (int i = 0; i < 3 * kEach; ++i) EXPECT_EQ(seen.count(Envelope(2000 + i, "x").event_uuid()), 1u);
  gw->Stop();
}

TEST_F(RabbitTest, SameEnvelopeThreeTimesIsOneBusEvent) {
  TempDir dir;
  TestServer server(dir.path());
  auto gw = StartGateway(server);
  ASSERT_TRUE(gw);
  for (int i = 0; i < 3; ++i) Send(GorgFixture());
  ASSERT_TRUE(WaitFor([&] { return HasBusEvent(server, "88d818a1-c77c-44e6-ad0c-8aa893468e94"); }));
  ASSERT_TRUE(WaitFor([&] {
    return admin_.QueueDepth(JobQueue(app_)).value_or(99) == 0;
  }));
  std::this_thread::sleep_for(300ms);
  grpc::ClientContext ctx;
  v1::ListBusEventsRequest req;
  v1::ListBusEventsResponse resp;
  ASSERT_TRUE(server.Notification()->ListBusEvents(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.events_size(), 1);
  EXPECT_EQ(server.server().grpc_address().empty(), false);
}

TEST_F(RabbitTest, UnparsableAndInvalidMessagesGoToTheDeadQueueWithTheReason) {
  TempDir dir;
  TestServer server(dir.path());
  auto gw = StartGateway(server);
  ASSERT_TRUE(gw);
  Send("this is not json");
  std::string bad = GorgFixture();
  bad.replace(bad.find("\"softerror\""), 11, "\"fatal\"");
  Send(bad);
  ASSERT_TRUE(WaitFor([&] { return admin_.QueueDepth(DeadQueue(app_)).value_or(0) == 2; }));
  auto first = admin_.Get(DeadQueue(app_));
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->body, "this is not json");
  EXPECT_NE((*first)->string_headers["x-switchboard-error"].find("invalid JSON"), std::string::npos);
  auto second = admin_.Get(DeadQueue(app_));
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_NE((*second)->string_headers["x-switchboard-error"].find("errors[0].error_type"), std::string::npos)
      << (*second)->string_headers["x-switchboard-error"];
  EXPECT_EQ((*second)->string_headers["x-switchboard-routing-key"], "request.gapps.account.create");
  EXPECT_EQ(admin_.QueueDepth(JobQueue(app_)).value_or(99), 0u);
}

TEST_F(RabbitTest, ServerDownKeepsTheMessageInTheQueue) {
  TempDir dir;
  std::string uuid = "88d818a1-c77c-44e6-ad0c-8aa893468e94";
  {
    TestServer server(dir.path());
    auto gw = StartGateway(server);
    ASSERT_TRUE(gw);
    server.Shutdown();
    Send(GorgFixture());
    std::this_thread::sleep_for(1s);  // the gateway retries, unacked
    gw->Stop();
  }
  ASSERT_TRUE(WaitFor([&] { return admin_.QueueDepth(JobQueue(app_)).value_or(0) == 1; }, 5s));
  TestServer server(dir.path());
  auto gw = StartGateway(server);
  ASSERT_TRUE(gw);
  ASSERT_TRUE(WaitFor([&] { return HasBusEvent(server, uuid); }));
}

}  // namespace
}  // namespace switchboard::gateway::rabbitmq
