#pragma once
// GET /healthz: asks switchboardd's grpc.health.v1.Health service. 200 "ok"
// when it answers SERVING, 503 with the reason otherwise.

#include "clients/lib/client.h"
#include "gateway/http/http_server.h"

namespace switchboard::gateway {

class HealthEndpoint {
 public:
  explicit HealthEndpoint(const client::Connection* conn) : conn_(conn) {}
  http::Response Check() const;

 private:
  const client::Connection* conn_;
};

}  // namespace switchboard::gateway
