// The gateway in-process against an in-process switchboardd: /healthz,
// /metrics, routing, and the answer when the server is gone.

#include "gateway/gateway.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "tests/core/test_support.h"
#include "tests/gateway/http_client.h"

namespace switchboard::gateway {
namespace {

using switchboard::testing::HttpClient;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;

GatewayConfig ConfigFor(TestServer& server) {
  GatewayConfig c;
  c.server = server.server().grpc_address();
  c.http_address = "127.0.0.1:0";
  return c;
}

TEST(GatewayTest, HealthzFollowsTheServer) {
  TempDir dir;
  TestServer server(dir.path());
  auto gw = Gateway::Start(ConfigFor(server));
  ASSERT_TRUE(gw.ok()) << gw.status();
  HttpClient client((*gw)->http_address());
  auto r = client.Get("/healthz");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "ok\n");
  server.Shutdown();
  r = client.Get("/healthz");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("switchboardd"), std::string::npos) << r.body;
}

// While switchboardd is away the gateway's channel waits longer and longer
// between connection attempts (gRPC allows up to 120 s), and a call made
// meanwhile fails at once. The client library caps that wait at 2 s, so the
// gateway serves again within about that long of the server's return
// (measured after 45-70 s outages: 1.5-1.9 s with the cap, 2.7-3.8 s without).
TEST(GatewayTest, ServesAgainSoonAfterTheServerComesBackFromALongOutage) {
  TempDir dir;
  auto server = std::make_unique<TestServer>(dir.path());
  std::string address = server->server().grpc_address();
  GatewayConfig config = ConfigFor(*server);
  auto gw = Gateway::Start(config);
  ASSERT_TRUE(gw.ok()) << gw.status();
  HttpClient client((*gw)->http_address());
  ASSERT_EQ(client.Get("/healthz").status, 200);
  server.reset();
  // Calls during the outage, as senders would make them, each a 503.
  auto down_until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < down_until) {
    EXPECT_EQ(client.Get("/healthz").status, 503);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  core::ServerConfig again;
  again.data_dir = dir.path();
  again.grpc_address = address;  // the same address: the gateway's channel stays
  again.http_address = "127.0.0.1:0";
  again.shutdown_grace_seconds = 1;
  auto restarted = Server::Start(again);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  auto back = std::chrono::steady_clock::now();
  int status = 0;
  while (std::chrono::steady_clock::now() - back < std::chrono::seconds(10)) {
    status = client.Get("/healthz").status;
    if (status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - back).count();
  EXPECT_EQ(status, 200);
  EXPECT_LT(seconds, 4.0) << "the gateway took " << seconds << " s to reach the restarted server";
}

TEST(GatewayTest, MetricsCountRequestsByRouteAndStatus) {
  TempDir dir;
  TestServer server(dir.path());
  auto gw = Gateway::Start(ConfigFor(server));
  ASSERT_TRUE(gw.ok()) << gw.status();
  HttpClient client((*gw)->http_address());
  EXPECT_EQ(client.Get("/healthz").status, 200);
  EXPECT_EQ(client.Get("/nowhere").status, 404);
  EXPECT_EQ(client.Post("/healthz", "").status, 405);
  auto m = client.Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(m.body.find("switchboard_gateway_http_requests_total{route=\"healthz\",status=\"200\"} 1\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("switchboard_gateway_http_requests_total{route=\"healthz\",status=\"405\"} 1\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("switchboard_gateway_http_requests_total{route=\"other\",status=\"404\"} 1\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("switchboard_gateway_http_request_seconds_count{route=\"healthz\"} 2\n"), std::string::npos)
      << m.body;
}

TEST(GatewayTest, HttpAddressInUseFailsToStart) {
  TempDir dir;
  TestServer server(dir.path());
  auto first = Gateway::Start(ConfigFor(server));
  ASSERT_TRUE(first.ok());
  GatewayConfig c = ConfigFor(server);
  c.http_address = (*first)->http_address();
  auto second = Gateway::Start(c);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

}  // namespace
}  // namespace switchboard::gateway
