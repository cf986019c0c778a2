// Configuration: file keys, precedence, secrets from files and the
// environment, and the binary's --help.

#include "gateway/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "tests/clients/subprocess.h"
#include "tests/core/test_support.h"

namespace switchboard::gateway {
namespace {

using switchboard::testing::RunCommand;
using switchboard::testing::Subprocess;
using switchboard::testing::TempDir;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(GatewayConfigTest, JsonKeysOverrideDefaults) {
  GatewayConfig c;
  ASSERT_TRUE(MergeConfigJson(R"({"server":"127.0.0.1:1","http_body_limit":5000,"amqp_exchange":"ex"})", &c).ok());
  EXPECT_EQ(c.server, "127.0.0.1:1");
  EXPECT_EQ(c.http_body_limit, 5000);
  EXPECT_EQ(c.amqp_exchange, "ex");
  EXPECT_EQ(c.http_address, "127.0.0.1:8080");
}

TEST(GatewayConfigTest, BadKeysAndTypesNameTheKey) {
  GatewayConfig c;
  auto s = MergeConfigJson(R"({"servr":"x"})", &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("servr"), std::string::npos) << s;
  s = MergeConfigJson(R"({"http_body_limit":"big"})", &c);
  EXPECT_NE(s.message().find("http_body_limit"), std::string::npos) << s;
  s = MergeConfigJson(R"([1])", &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = MergeConfigJson(R"({"eventgrid_key_file":"/nonexistent/x"})", &c);
  EXPECT_NE(s.message().find("eventgrid_key_file"), std::string::npos) << s;
}

TEST(GatewayConfigTest, SecretsFromFilesEnvAndFlagsInOrder) {
  TempDir dir;
  std::string cfg = dir.path() + "/gw.json", keyfile = dir.path() + "/key";
  WriteFile(keyfile, "from-file\n");
  WriteFile(cfg, R"({"managedapp_sig_file":")" + keyfile + R"(","eventgrid_key":"from-config"})");
  setenv("SWITCHBOARD_EVENTGRID_KEY", "from-env", 1);
  Cli cli("t", "t");
  AddConfigFlags(cli);
  std::vector<std::string> args = {"t", "--config=" + cfg, "--eventgrid_topic_key_file=" + keyfile};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ASSERT_TRUE(cli.Parse(static_cast<int>(argv.size()), argv.data()).ok());
  GatewayConfig c;
  auto s = LoadConfig(cli, &c);
  unsetenv("SWITCHBOARD_EVENTGRID_KEY");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(c.managedapp_sig, "from-file");
  EXPECT_EQ(c.eventgrid_key, "from-env");  // environment beats the config file
  EXPECT_EQ(c.eventgrid_topic_key, "from-file");
}

TEST(GatewayConfigTest, TopicUrlNeedsAKey) {
  GatewayConfig c;
  c.eventgrid_topic_url = "http://127.0.0.1:9/api/events";
  auto s = ValidateConfig(c);
  EXPECT_NE(s.message().find("eventgrid_topic_key"), std::string::npos) << s;
  c.eventgrid_topic_key = "k";
  EXPECT_TRUE(ValidateConfig(c).ok());
  c.eventgrid_topic_url = "ftp://x";
  EXPECT_NE(ValidateConfig(c).message().find("eventgrid_topic_url"), std::string::npos);
}

TEST(GatewayConfigTest, TheCursorLeaseIsOnByDefaultAndZeroTurnsItOff) {
  GatewayConfig c;
  EXPECT_EQ(c.eventgrid_cursor_lease_seconds, 10);
  ASSERT_TRUE(MergeConfigJson(R"({"eventgrid_cursor_lease_seconds":0})", &c).ok());
  EXPECT_EQ(c.eventgrid_cursor_lease_seconds, 0);
  EXPECT_TRUE(ValidateConfig(c).ok());
  for (int64_t ok : {1, 300}) {
    c.eventgrid_cursor_lease_seconds = ok;
    EXPECT_TRUE(ValidateConfig(c).ok()) << ok;
  }
  for (int64_t bad : {-1, 301}) {
    c.eventgrid_cursor_lease_seconds = bad;
    auto s = ValidateConfig(c);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << bad;
    EXPECT_NE(s.message().find("eventgrid_cursor_lease_seconds"), std::string::npos) << s;
  }
}

TEST(GatewayConfigTest, TheStatusQueueCursorLeaseIsOnByDefaultAndZeroTurnsItOff) {
  GatewayConfig c;
  EXPECT_EQ(c.status_queue_cursor_lease_seconds, 10);
  ASSERT_TRUE(MergeConfigJson(R"({"status_queue_cursor_lease_seconds":0})", &c).ok());
  EXPECT_EQ(c.status_queue_cursor_lease_seconds, 0);
  EXPECT_TRUE(ValidateConfig(c).ok());
  for (int64_t ok : {1, 300}) {
    c.status_queue_cursor_lease_seconds = ok;
    EXPECT_TRUE(ValidateConfig(c).ok()) << ok;
  }
  for (int64_t bad : {-1, 301}) {
    c.status_queue_cursor_lease_seconds = bad;
    auto s = ValidateConfig(c);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << bad;
    EXPECT_NE(s.message().find("status_queue_cursor_lease_seconds"), std::string::npos) << s;
  }
}

TEST(GatewayConfigTest, HttpsNeedsBothTheCertificateAndTheKey) {
  GatewayConfig c;
  c.http_tls_cert_file = "/x/cert.pem";
  auto s = ValidateConfig(c);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("http_tls_cert_file and http_tls_key_file go together"), std::string::npos) << s;
  c.http_tls_key_file = "/x/key.pem";
  EXPECT_TRUE(ValidateConfig(c).ok());  // the files are read at start (HttpServer::Start)
}

TEST(GatewayBinaryTest, HelpDocumentsTheAcceptanceFlags) {
  auto r = RunCommand({SWITCHBOARD_GATEWAY_PATH, "--help"}, {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* flag : {"--server", "--http_address", "--eventgrid_key", "--eventgrid_topic_url",
                           "--eventgrid_topic_key", "--managedapp_sig", "--amqp_url", "--config",
                           "--managedapp_sig_file", "--eventgrid_cursor_lease_seconds",
                           "--status_queue_cursor_lease_seconds", "SWITCHBOARD_EVENTGRID_KEY", "/api/eventgrid",
                           "/resource", "/healthz", "/metrics", "127.0.0.1:8080"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << " missing from --help:\n" << r.out;
  }
}

TEST(GatewayBinaryTest, BadFlagsExitTwoNamingTheProblem) {
  auto r = RunCommand({SWITCHBOARD_GATEWAY_PATH, "--no_such_flag=1"}, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no_such_flag"), std::string::npos) << r.err;
  r = RunCommand({SWITCHBOARD_GATEWAY_PATH, "--eventgrid_topic_url=http://127.0.0.1:9/x"}, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("eventgrid_topic_key"), std::string::npos) << r.err;
}

// --server as sbctl reads it: a host alone means port 50051 (gRPC itself
// would dial 443), and junk is refused naming --server.
TEST(GatewayBinaryTest, ServerWithoutAPortMeansPort50051) {
  auto r = RunCommand({SWITCHBOARD_GATEWAY_PATH, "--server=host:", "--http_address=127.0.0.1:0"}, {});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--server: 'host:' has no port"), std::string::npos) << r.err;
  switchboard::testing::TempDir dir;
  Subprocess gw;
  Subprocess::Options o;
  o.stderr_file = dir.path() + "/gateway.log";
  std::string err;
  ASSERT_TRUE(gw.Start({SWITCHBOARD_GATEWAY_PATH, "--server=localhost", "--http_address=127.0.0.1:0"}, o, &err))
      << err;
  std::string log;
  for (int i = 0; i < 400 && log.find("\"msg\":\"serving\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(o.stderr_file);
    log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_NE(log.find("\"server\":\"localhost:50051\""), std::string::npos) << log;
}

}  // namespace
}  // namespace switchboard::gateway
