// POST /resource against a real in-process switchboardd: signature checks,
// malformed bodies, and the 503 that makes Azure retry.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "gateway/endpoints/managed_app.h"
#include "gateway/endpoints/status_map.h"
#include "gateway/gateway.h"
#include "tests/core/test_support.h"
#include "tests/gateway/http_client.h"

namespace switchboard::gateway {
namespace {

using switchboard::testing::HttpClient;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(SB_FIXTURES_DIR) + "/managedapp/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ManagedAppEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(dir_.path());
    GatewayConfig c;
    c.server = server_->server().grpc_address();
    c.http_address = "127.0.0.1:0";
    c.managedapp_sig = "s3cret-sig";
    auto gw = Gateway::Start(c);
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    client_ = std::make_unique<HttpClient>(gateway_->http_address());
  }

  TempDir dir_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(ManagedAppEndpointTest, WrongOrMissingSigIs401) {
  std::string body = Fixture("put-accepted.service-catalog.json");
  for (const char* target : {"/resource", "/resource?sig=", "/resource?sig=s3cret-si", "/resource?sig=s3cret-sig2",
                             "/resource?sig=S3CRET-SIG", "/resource?other=s3cret-sig"}) {
    auto r = client_->Post(target, body);
    EXPECT_EQ(r.status, 401) << target << ": " << r.body;
  }
}

TEST_F(ManagedAppEndpointTest, MalformedBodiesAre400NamingTheField) {
  auto r = client_->Post("/resource?sig=s3cret-sig", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid JSON"), std::string::npos) << r.body;
  r = client_->Post("/resource?sig=s3cret-sig",
                    R"({"eventType":"PATCH","provisioningState":"Deleted","eventTime":"2019-08-14T19:20:08Z",)"
                    R"("applicationId":"/subscriptions/s/providers/Microsoft.Solutions/applications/a"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("provisioningState"), std::string::npos) << r.body;
  EXPECT_EQ(client_->Get("/resource?sig=s3cret-sig").status, 405);
}

TEST_F(ManagedAppEndpointTest, ServerDownIs503SoAzureRetries) {
  server_->Shutdown();
  auto r = client_->Post("/resource?sig=s3cret-sig", Fixture("put-accepted.service-catalog.json"));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("retry later"), std::string::npos) << r.body;
}

TEST(ManagedAppEndpointUnit, RequestIdIsStablePerContent) {
  v1::ManagedAppNotification a;
  a.set_application_id("/subscriptions/s/x");
  a.set_event_type(v1::PUT);
  v1::ManagedAppNotification b = a;
  EXPECT_EQ(ManagedAppEndpoint::RequestIdFor(a), ManagedAppEndpoint::RequestIdFor(b));
  b.set_provisioning_state(v1::PROVISIONING_FAILED);
  EXPECT_NE(ManagedAppEndpoint::RequestIdFor(a), ManagedAppEndpoint::RequestIdFor(b));
  EXPECT_EQ(ManagedAppEndpoint::RequestIdFor(a).rfind("managedapp-", 0), 0u);
}

TEST(StatusMapTest, RetryableCodesAre503) {
  EXPECT_EQ(HttpStatusFor(grpc::Status::OK), 200);
  EXPECT_EQ(HttpStatusFor(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "")), 400);
  EXPECT_EQ(HttpStatusFor(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "")), 400);
  EXPECT_EQ(HttpStatusFor(grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "")), 409);
  for (auto code : {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::UNIMPLEMENTED,
                    grpc::StatusCode::INTERNAL, grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::UNAUTHENTICATED}) {
    EXPECT_EQ(HttpStatusFor(grpc::Status(code, "")), 503) << code;
    EXPECT_TRUE(IsRetryable(grpc::Status(code, "")));
  }
}

}  // namespace
}  // namespace switchboard::gateway
