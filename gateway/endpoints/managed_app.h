#pragma once
// POST /resource?sig=<secret>: the Azure managed-application webhook
// (docs/wire-formats.md section 5). One notification -> one RecordManagedAppNotification.
//
//   401  sig missing or wrong (compared in constant time)
//   400  body is not a valid notification (the message names the field)
//   200  recorded durably (or recorded before: a duplicate)
//   503  the server could not record it; Azure retries >= 500 for 10 hours
//
// The request_id is derived from the notification's content, so that
// Azure's redeliveries of the same notification are idempotent.

#include <string>

#include "common/log_limiter.h"
#include "common/http/server.h"
#include "clients/lib/client.h"
#include "gateway/http/metrics.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::gateway {

class ManagedAppEndpoint {
 public:
  ManagedAppEndpoint(const client::Connection* conn, std::string sig, Metrics* metrics);
  httpserver::Response Handle(const httpserver::Request& req) const;

  // "managedapp-" + hex SHA-256 of the notification's deterministic encoding.
  static std::string RequestIdFor(const v1::ManagedAppNotification& n);

 private:
  const client::Connection* conn_;
  std::string sig_;
  Metrics* metrics_;
  // Refused credentials: at most one log line a second (the metric counts all).
  mutable log::LogLimiter auth_log_;
  std::unique_ptr<v1::NotificationService::Stub> stub_;
};

}  // namespace switchboard::gateway
