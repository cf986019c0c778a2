// sbctl health [SERVICE]: grpc.health.v1.Health/Check.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clients/sbctl/command.h"
#include "clients/sbctl/output.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "switchboard/v1/notification.grpc.pb.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::sbctl {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

int RunHealth(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  std::vector<std::string> services;
  if (inv.args().empty()) {
    services = {"", v1::ResourcingService::service_full_name(), v1::MediaService::service_full_name(),
                v1::NotificationService::service_full_name()};
  } else {
    services = {inv.args()[0]};
  }
  auto stub = grpc::health::v1::Health::NewStub(conn->channel());
  std::vector<std::vector<std::string>> rows;
  bool all_serving = true;
  for (const auto& service : services) {
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub->Check(ctx.get(), req, &resp);
    if (!s.ok()) return inv.RpcError(s);
    std::string status = HealthCheckResponse::ServingStatus_Name(resp.status());
    all_serving = all_serving && resp.status() == HealthCheckResponse::SERVING;
    if (inv.json()) {
      inv.out() << nlohmann::json{{"service", service}, {"status", status}}.dump() << "\n";
    } else {
      rows.push_back({service.empty() ? "(server)" : service, status});
    }
  }
  if (!inv.json()) PrintTable(inv.out(), {"SERVICE", "STATUS"}, rows);
  inv.out().flush();
  if (!all_serving) {
    inv.Note("not every service is SERVING");
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

void RegisterHealthCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "health",
      .args = "[SERVICE]",
      .summary = "Check that the server (or one service) is SERVING; exit 0 only if it is.",
      .details = "Calls grpc.health.v1.Health/Check. Without SERVICE, checks the server (\"\") and each\n"
                 "Switchboard service: switchboard.v1.ResourcingService, switchboard.v1.MediaService,\n"
                 "switchboard.v1.NotificationService. An unknown service is NOT_FOUND (exit 1).",
      .min_args = 0,
      .max_args = 1,
      .flags = nullptr,
      .run = RunHealth,
  });
}

}  // namespace switchboard::sbctl
