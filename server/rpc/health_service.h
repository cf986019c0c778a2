#pragma once
// grpc.health.v1.Health, implemented from its .proto so that reflection
// shows it. "" and each Switchboard service name are known; other names are
// NOT_FOUND. Watch streams the current status and every change.

#include <grpcpp/grpcpp.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"

namespace switchboard::rpc {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  explicit HealthService(std::vector<std::string> services);
  ~HealthService() override;

  // Flips every service between SERVING and NOT_SERVING.
  void SetServing(bool serving);
  // Ends every Watch stream (at shutdown).
  void Shutdown();

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const grpc::health::v1::HealthCheckRequest* req,
                                  grpc::health::v1::HealthCheckResponse* resp) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* ctx, const grpc::health::v1::HealthCheckRequest* req) override;

  class Watcher;

 private:
  friend class Watcher;
  grpc::health::v1::HealthCheckResponse::ServingStatus StatusOf(const std::string& service) const;

  std::set<std::string> services_;
  mutable std::mutex mu_;
  bool serving_ = true;
  bool shutdown_ = false;
  std::set<Watcher*> watchers_;
};

}  // namespace switchboard::rpc
