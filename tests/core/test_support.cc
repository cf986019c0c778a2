#include "tests/core/test_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/http/client.h"
#include "common/uuid.h"

namespace switchboard::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sbtest-XXXXXX";
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

TestServer::TestServer(const std::string& data_dir, core::ServerConfig config) {
  config.data_dir = data_dir;
  config.grpc_address = "127.0.0.1:0";
  config.http_address = "127.0.0.1:0";
  config.shutdown_grace_seconds = 1;
  auto s = Server::Start(config);
  if (!s.ok()) {
    ADD_FAILURE() << "server did not start: " << s.status();
    std::abort();  // nothing else in the test can work
  }
  server_ = std::move(*s);
}

TestServer::~TestServer() { server_->Shutdown(); }

std::unique_ptr<Server> RestartOnTheSameAddress(std::unique_ptr<TestServer>* server, const std::string& data_dir) {
  core::ServerConfig config;
  config.data_dir = data_dir;
  config.grpc_address = (*server)->server().grpc_address();
  config.http_address = "127.0.0.1:0";
  config.shutdown_grace_seconds = 1;
  server->reset();
  auto s = Server::Start(config);
  if (!s.ok()) {
    ADD_FAILURE() << "server did not start again on " << config.grpc_address << ": " << s.status();
    return nullptr;
  }
  return std::move(*s);
}

std::shared_ptr<grpc::Channel> TestServer::Channel() const {
  return grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
}

std::unique_ptr<v1::NotificationService::Stub> TestServer::Notification() const {
  return v1::NotificationService::NewStub(Channel());
}

std::string NewRequestId() { return "test-" + NewUuid(); }

v1::BusEnvelope Envelope(const std::string& uuid, const std::string& event_name) {
  v1::BusEnvelope e;
  e.set_event_uuid(uuid);
  e.set_event_name(event_name);
  e.mutable_event_creation_time()->set_seconds(1464534230);
  e.set_event_sender_id("gram");
  (*e.mutable_data()->mutable_fields())["id"].set_string_value("12453");
  return e;
}

int64_t PublishOk(v1::NotificationService::Stub& stub, const std::string& uuid, const std::string& token) {
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  v1::PublishRequest req;
  *req.mutable_envelope() = Envelope(uuid);
  v1::PublishResponse resp;
  grpc::Status s = stub.Publish(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
  return resp.sequence();
}

std::string AdminMetrics(const std::string& address) {
  httpclient::Request req;
  req.url = "http://" + address + "/metrics";
  auto r = httpclient::SharedClient().Perform(req);
  return r.ok() ? r->body : "";
}

double MetricSample(const std::string& text, const std::string& series) {
  const std::string lines = "\n" + text;  // the first line counts too
  size_t at = lines.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(lines.substr(at + series.size() + 2));
}

}  // namespace switchboard::testing
