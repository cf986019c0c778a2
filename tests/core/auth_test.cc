// Bearer tokens and roles, and the loopback-only rule of a token-less server.

#include <gtest/gtest.h>

#include <fstream>

#include "common/auth.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using testing::Envelope;
using testing::PublishOk;
using testing::TempDir;
using testing::TestServer;

std::string WriteTokens(const TempDir& dir) {
  std::string path = dir.path() + "/tokens.json";
  std::ofstream(path) << R"({"tokens": [
    {"token": "reader-token", "principal": "rita", "roles": ["reader"]},
    {"token": "operator-token", "principal": "otto", "roles": ["operator"]},
    {"token_sha256": ")" << Sha256Hex("admin-token") << R"(", "principal": "ada", "roles": ["admin"]}]})";
  return path;
}

grpc::Status Publish(v1::NotificationService::Stub& stub, const std::string& token, const std::string& uuid) {
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  v1::PublishRequest req;
  *req.mutable_envelope() = Envelope(uuid);
  v1::PublishResponse resp;
  return stub.Publish(&ctx, req, &resp);
}

TEST(Auth, TokensAndRolesAreEnforced) {
  TempDir dir;
  core::ServerConfig cfg;
  cfg.token_file = WriteTokens(dir);
  TestServer ts(dir.path() + "/data", cfg);
  auto stub = ts.Notification();

  grpc::Status missing = Publish(*stub, "", "a");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "loopback is no bypass once tokens exist";
  EXPECT_NE(missing.error_message().find("Bearer"), std::string::npos);

  EXPECT_EQ(Publish(*stub, "wrong-token", "a").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::Status reader = Publish(*stub, "reader-token", "a");
  EXPECT_EQ(reader.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(reader.error_message().find("rita"), std::string::npos);
  EXPECT_NE(reader.error_message().find("operator"), std::string::npos);

  EXPECT_TRUE(Publish(*stub, "operator-token", "a").ok());
  EXPECT_TRUE(Publish(*stub, "admin-token", "b").ok()) << "admin may do what operator may";

  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer reader-token");
  v1::GetBusEventRequest get;
  get.set_name("busEvents/a");
  v1::BusEvent ev;
  ASSERT_TRUE(stub->GetBusEvent(&ctx, get, &ev).ok()) << "reader may read";
  EXPECT_EQ(ev.publisher(), "otto");
}

TEST(Auth, WatchesNeedATokenToo) {
  TempDir dir;
  core::ServerConfig cfg;
  cfg.token_file = WriteTokens(dir);
  TestServer ts(dir.path() + "/data", cfg);
  auto stub = ts.Notification();
  grpc::ClientContext ctx;
  v1::WatchEventsRequest req;
  auto reader = stub->WatchEvents(&ctx, req);
  v1::NotificationEvent ev;
  EXPECT_FALSE(reader->Read(&ev));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(Auth, TokenlessServerRefusesNonLoopbackAddresses) {
  TempDir dir;
  core::ServerConfig cfg;
  cfg.data_dir = dir.path();
  cfg.grpc_address = "0.0.0.0:0";
  cfg.http_address = "127.0.0.1:0";
  auto s = Server::Start(cfg);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("--token_file"), absl::string_view::npos);

  cfg.grpc_address = "127.0.0.1:0";
  cfg.http_address = "[::]:0";
  EXPECT_EQ(Server::Start(cfg).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Auth, LoopbackRuleAndTokenFileParsing) {
  auto local = TokenAuthenticator::AllowLocal();
  EXPECT_TRUE(local->CheckListenAddress("grpc_address", "127.0.0.1:1").ok());
  EXPECT_TRUE(local->CheckListenAddress("grpc_address", "[::1]:1").ok());
  EXPECT_TRUE(local->CheckListenAddress("grpc_address", "localhost:1").ok());
  EXPECT_FALSE(local->CheckListenAddress("grpc_address", "10.0.0.1:1").ok());
  auto p = local->Authorize(std::nullopt, Role::kAdmin);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->local);

  auto with_tokens = TokenAuthenticator::FromJson(R"({"tokens":[{"token":"t","principal":"p","roles":["reader"]}]})");
  ASSERT_TRUE(with_tokens.ok());
  EXPECT_TRUE((*with_tokens)->CheckListenAddress("grpc_address", "0.0.0.0:50051").ok());

  auto bad_role = TokenAuthenticator::FromJson(R"({"tokens":[{"token":"t","principal":"p","roles":["root"]}]})");
  EXPECT_EQ(bad_role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_role.status().message().find("tokens[0].roles"), absl::string_view::npos);
  EXPECT_FALSE(TokenAuthenticator::FromJson("not json").ok());
}

}  // namespace
}  // namespace switchboard
