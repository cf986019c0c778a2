#pragma once
// Shared pieces of the core tests: temp folders, an in-process server on
// port 0 with a real gRPC channel, and envelope builders.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "server/core/config.h"
#include "server/server.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::testing {

// A fresh folder under $TMPDIR, removed when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An in-process switchboardd on 127.0.0.1:0.
class TestServer {
 public:
  // `tweak` may change the config (data_dir is preset).
  explicit TestServer(const std::string& data_dir, core::ServerConfig config = {});
  ~TestServer();
  Server& server() { return *server_; }
  std::shared_ptr<grpc::Channel> Channel() const;
  std::unique_ptr<v1::NotificationService::Stub> Notification() const;
  void Shutdown() { server_->Shutdown(); }

 private:
  std::unique_ptr<Server> server_;
};

// A restart: stops `*server` and starts a switchboardd on `data_dir` at the
// same gRPC address, so clients connected to the old one reconnect to it.
// Null (and a test failure) if it does not start. Not a TestServer, which
// always takes a fresh port.
std::unique_ptr<Server> RestartOnTheSameAddress(std::unique_ptr<TestServer>* server, const std::string& data_dir);

// A fresh request_id ("test-<uuid>") for a mutating call that is not about
// idempotency: every such call needs one (docs/api.md).
std::string NewRequestId();

// A valid Gorg envelope with the given uuid and routing key.
v1::BusEnvelope Envelope(const std::string& uuid, const std::string& event_name = "request.gapps.account.create");

// GET /metrics from an admin listener ("127.0.0.1:port", plain HTTP): the
// answer's body, whatever its status; empty if no answer came.
std::string AdminMetrics(const std::string& address);

// The value of one sample line ("name{labels} value") of a metrics text,
// or -1 when it has no such line.
double MetricSample(const std::string& text, const std::string& series);

// Publishes and returns the sequence (fails the test on error).
int64_t PublishOk(v1::NotificationService::Stub& stub, const std::string& uuid,
                  const std::string& token = "");

}  // namespace switchboard::testing
