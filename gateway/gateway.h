#pragma once
// switchboard-gateway: the stateless translator between legacy wire formats
// (docs/wire-formats.md) and switchboardd's gRPC API. This class wires the pieces
// together: the HTTP server and its routes, the connection to switchboardd,
// the metrics, and the adapters enabled by the configuration.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/config.h"

namespace switchboard::gateway {

class Gateway {
 public:
  // Connects (lazily) to switchboardd, binds the HTTP address and starts the
  // enabled adapters.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(const GatewayConfig& config);
  ~Gateway();

  // The bound HTTP address (HOST:PORT).
  const std::string& http_address() const;
  // Stops adapters and the HTTP server. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchboard::gateway
