// The gateway in-process against an in-process switchboardd: /healthz,
// /metrics, routing, and the answer when the server is gone.

#include "gateway/gateway.h"

#include <gtest/gtest.h>

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
