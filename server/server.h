#pragma once
// switchboardd assembled: store, event hub, services, health, reflection,
// the admin HTTP listener. Tests start one in-process on port 0.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/config.h"

namespace switchboard {

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(const core::ServerConfig& config);
  ~Server();

  // Real addresses (with the chosen port when 0 was asked for).
  const std::string& grpc_address() const;
  const std::string& http_address() const;

  // Drains: health goes NOT_SERVING, watches end with a resume point,
  // in-flight calls get the grace period, queued writes are committed.
  void Shutdown();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchboard
