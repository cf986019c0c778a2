// switchboardd: the Switchboard gRPC control plane.

#include <signal.h>
#include <sys/resource.h>

#include <iostream>

#include "absl/synchronization/mutex.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "server/core/config.h"
#include "server/server.h"

int main(int argc, char** argv) {
  using switchboard::Cli;
  switchboard::core::ServerConfig defaults;
  Cli cli("switchboardd", "switchboardd [flags]");
  cli.AddString("config", "", "JSON config file; flags given here override its keys (docs/configuration.md).");
  cli.AddString("data_dir", defaults.data_dir, "Folder for the SQLite store and other state; created if missing.");
  cli.AddString("store", "",
                "Where the durable state lives: \"sqlite\" (the default, a file in --data_dir) or a PostgreSQL URI "
                "(postgresql:///switchboard?host=/run/postgresql) shared by several replicas; docs/scale-out.md.");
  cli.AddString("store_schema", defaults.store_schema, "The PostgreSQL schema of --store (made if missing).");
  cli.AddBool("store_listen", defaults.store_listen,
              "PostgreSQL: LISTEN for other replicas' commits (--store_listen=false: own commits and a 1 s poll only).");
  cli.AddString("grpc_address", defaults.grpc_address, "gRPC listen address host:port (port 0 picks a free one).");
  cli.AddString("http_address", defaults.http_address, "HTTP listen address for /healthz and /metrics.");
  cli.AddString("token_file", "",
                "JSON bearer-token file (docs/configuration.md). Without it the server listens on loopback only "
                "and every caller is the local admin.");
  cli.AddString("tls_cert_file", "", "PEM certificate chain: serve gRPC over TLS (with --tls_key_file).");
  cli.AddString("tls_key_file", "", "PEM private key for --tls_cert_file.");
  cli.AddString("http_tls_cert_file", "",
                "PEM certificate chain: serve the HTTP listener (healthz, metrics, blobs) over HTTPS, with "
                "--http_tls_key_file. Default: --tls_cert_file, when that is given.");
  cli.AddString("http_tls_key_file", "", "PEM private key for --http_tls_cert_file (default: --tls_key_file).");
  cli.AddInt("max_message_bytes", defaults.max_message_bytes, "Largest request accepted.");
  cli.AddInt("watch_max_lag", defaults.watch_max_lag,
             "Events a live watcher may fall behind before it is ended with a resumable ABORTED.");
  cli.AddInt("watch_ring_capacity", defaults.watch_ring_capacity, "Recent events kept in memory for watchers.");
  cli.AddInt("watch_wake_threads", defaults.watch_wake_threads,
             "Threads that wake caught-up watchers after each commit (1-16).");
  cli.AddInt("shutdown_grace_seconds", defaults.shutdown_grace_seconds,
             "Seconds in-flight calls get after SIGTERM.");
  cli.AddString("log_level", defaults.log_level, "debug, info, warn or error.");
  cli.AddInt("bus_visibility_timeout_ms", defaults.bus_visibility_timeout_ms,
             "Default for new bus subscriptions: an unanswered delivery comes back after this long.");
  cli.AddInt("bus_retry_delay_ms", defaults.bus_retry_delay_ms,
             "Default for new bus subscriptions: a soft error is redelivered after this long.");
  cli.AddInt("bus_max_attempts", defaults.bus_max_attempts,
             "Default for new bus subscriptions: soft errors before a message is dead-lettered.");
  cli.AddInt("bus_status_events", defaults.bus_status_events,
             "1: publish every resourcing, media and managed-app status change on the bus "
             "(notify.switchboard.*, notify.managedapp.*); 0: off.");
  cli.AddInt("webhook_workers", defaults.webhook_workers, "Webhook HTTP attempts made at once.");
  cli.AddString("webhook_ca_file", "",
                "PEM CA file https:// webhook receivers are verified against (default: the system's CAs).");
  cli.AddInt("webhook_per_endpoint_in_flight", defaults.webhook_per_endpoint_in_flight,
             "Webhook attempts at once to one subscription, so a slow receiver cannot hold every attempt.");
  cli.AddInt("webhook_retry_base_ms", defaults.webhook_retry_base_ms,
             "First webhook retry backoff; doubles per attempt, with jitter, up to --webhook_retry_max_ms.");
  cli.AddInt("webhook_retry_max_ms", defaults.webhook_retry_max_ms, "Longest webhook retry backoff.");
  cli.AddInt("job_retention_seconds", defaults.job_retention_seconds,
             "Finished jobs (delivered webhooks, finished media operations) are deleted once this old. 0: a "
             "completed job is deleted as it completes (its operation or delivery record keeps the outcome), a "
             "failed one at the next prune pass.");
  cli.SetEpilog(
      "Logs are JSON lines on stderr. SIGTERM or SIGINT drains and stops the server.\n"
      "Services: switchboard.v1.ResourcingService, MediaService, NotificationService, grpc.health.v1.Health,\n"
      "and server reflection. See README.md and docs/.");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "switchboardd: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  if (!cli.positionals().empty()) {
    std::cerr << "switchboardd: unexpected argument '" << cli.positionals()[0] << "'; see --help\n";
    return 2;
  }

  switchboard::core::ServerConfig config;
  if (cli.IsSet("config")) {
    if (auto s = switchboard::core::MergeConfigFile(cli.GetString("config"), &config); !s.ok()) {
      std::cerr << "switchboardd: " << s.message() << "\n";
      return 2;
    }
  }
  auto str = [&](const char* flag, std::string* field) {
    if (cli.IsSet(flag)) *field = cli.GetString(flag);
  };
  auto num = [&](const char* flag, int64_t* field) {
    if (cli.IsSet(flag)) *field = cli.GetInt(flag);
  };
  str("data_dir", &config.data_dir);
  str("store", &config.store);
  str("store_schema", &config.store_schema);
  if (cli.IsSet("store_listen")) config.store_listen = cli.GetBool("store_listen");
  str("grpc_address", &config.grpc_address);
  str("http_address", &config.http_address);
  str("token_file", &config.token_file);
  str("tls_cert_file", &config.tls_cert_file);
  str("tls_key_file", &config.tls_key_file);
  str("http_tls_cert_file", &config.http_tls_cert_file);
  str("http_tls_key_file", &config.http_tls_key_file);
  str("log_level", &config.log_level);
  num("max_message_bytes", &config.max_message_bytes);
  num("watch_max_lag", &config.watch_max_lag);
  num("watch_ring_capacity", &config.watch_ring_capacity);
  num("watch_wake_threads", &config.watch_wake_threads);
  num("shutdown_grace_seconds", &config.shutdown_grace_seconds);
  num("bus_visibility_timeout_ms", &config.bus_visibility_timeout_ms);
  num("bus_retry_delay_ms", &config.bus_retry_delay_ms);
  num("bus_max_attempts", &config.bus_max_attempts);
  num("bus_status_events", &config.bus_status_events);
  num("webhook_workers", &config.webhook_workers);
  str("webhook_ca_file", &config.webhook_ca_file);
  num("webhook_per_endpoint_in_flight", &config.webhook_per_endpoint_in_flight);
  num("webhook_retry_base_ms", &config.webhook_retry_base_ms);
  num("webhook_retry_max_ms", &config.webhook_retry_max_ms);
  num("job_retention_seconds", &config.job_retention_seconds);

  switchboard::log::Level level;
  if (!switchboard::log::ParseLevel(config.log_level, &level)) {
    std::cerr << "switchboardd: --log_level '" << config.log_level << "' must be debug, info, warn or error\n";
    return 2;
  }
  switchboard::log::SetMinLevel(level);

  // Debian's Abseil is built with deadlock detection on every Mutex lock
  // (gRPC uses them on every call); it is a debugging aid, not a check we rely on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Many watchers mean many connections: take every descriptor allowed.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  // Block the stop signals in every thread; main waits for them below.
  const sigset_t stop_signals = switchboard::BlockStopSignals();

  auto server = switchboard::Server::Start(config);
  if (!server.ok()) {
    switchboard::log::Error("cannot start", {{"error", std::string(server.status().message())}});
    std::cerr << "switchboardd: " << server.status().message() << "\n";
    return 1;
  }
  switchboard::WaitForStopSignal(stop_signals);
  (*server)->Shutdown();
  return 0;
}
