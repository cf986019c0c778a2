// switchboard-gateway: translates legacy wire formats (Event Grid, the
// managed-app webhook, RabbitMQ/Gorg, Azure Storage Queues) into calls on
// switchboardd, and the server's events back into wire messages.

#include <signal.h>

#include <iostream>

#include "absl/synchronization/mutex.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "gateway/config.h"
#include "gateway/gateway.h"

int main(int argc, char** argv) {
  using switchboard::Cli;
  namespace gw = switchboard::gateway;
  Cli cli("switchboard-gateway", "switchboard-gateway [flags]");
  gw::AddConfigFlags(cli);
  cli.SetEpilog(
      "Precedence: defaults < --config JSON file < environment < flags. Secrets (token, eventgrid_key,\n"
      "eventgrid_topic_key, managedapp_sig, amqp_url, azure_storage_key) also come from $SWITCHBOARD_<NAME>\n"
      "or --<name>_file; prefer those to flags, which other users can see in the process list.\n"
      "\n"
      "HTTP endpoints on --http_address:\n"
      "  POST /api/eventgrid   Event Grid events (aeg-sas-key header or ?code=), batches up to 1 MB\n"
      "  POST /resource?sig=   Azure managed-application notifications\n"
      "  GET  /healthz         200 when switchboardd answers its health check, else 503\n"
      "  GET  /metrics         Prometheus text format\n"
      "Logs are JSON lines on stderr; the \"serving\" line carries the bound http_address.\n"
      "SIGTERM or SIGINT stops the gateway. See docs/gateway.md.");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "switchboard-gateway: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  if (!cli.positionals().empty()) {
    std::cerr << "switchboard-gateway: unexpected argument '" << cli.positionals()[0] << "'; see --help\n";
    return 2;
  }
  gw::GatewayConfig config;
  if (auto s = gw::LoadConfig(cli, &config); !s.ok()) {
    std::cerr << "switchboard-gateway: " << s.message() << "\n";
    return 2;
  }
  switchboard::log::Level level;
  if (!switchboard::log::ParseLevel(config.log_level, &level)) {
    std::cerr << "switchboard-gateway: log_level '" << config.log_level << "' must be debug, info, warn or error\n";
    return 2;
  }
  switchboard::log::SetMinLevel(level);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  const sigset_t stop_signals = switchboard::BlockStopSignals();

  auto gateway = gw::Gateway::Start(config);
  if (!gateway.ok()) {
    switchboard::log::Error("cannot start", {{"error", std::string(gateway.status().message())}});
    std::cerr << "switchboard-gateway: " << gateway.status().message() << "\n";
    return 1;
  }
  switchboard::WaitForStopSignal(stop_signals);
  (*gateway)->Stop();
  return 0;
}
