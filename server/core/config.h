#pragma once
// switchboardd configuration: embedded defaults, then a JSON config file
// (--config), then command-line flags, each overriding the one before.
// docs/configuration.md lists every key.

#include "absl/strings/string_view.h"
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace switchboard::core {

// The size of one pool of core::Executor (the "pools" object of the config
// file: {"git": {"threads": 2, "queue_limit": 1024}, ...}).
struct PoolSize {
  int64_t threads = 2;
  // Tasks waiting for a thread at most (and timers waiting at most).
  int64_t queue_limit = 1024;
};

// The pools switchboardd runs, by name, with their default sizes. A name
// not in this list is refused in the config file.
std::map<std::string, PoolSize> DefaultPools();

struct ServerConfig {
  std::string data_dir = "switchboard-data";
  // Where the durable state lives: empty or "sqlite" for the SQLite file in
  // data_dir (one machine); a "postgres://" or "postgresql://" URI for a
  // PostgreSQL database that several replicas share (docs/scale-out.md).
  std::string store;
  // The PostgreSQL schema holding switchboardd's tables (made if missing).
  std::string store_schema = "switchboard";
  // PostgreSQL: the log tailer LISTENs for the NOTIFY every log transaction
  // sends, so other replicas' events reach this one's watchers at once.
  // Off, it relies on its own commits and a poll every second (a
  // benchmark's "NOTIFY off"). Ignored with SQLite.
  bool store_listen = true;
  std::string grpc_address = "127.0.0.1:50051";
  std::string http_address = "127.0.0.1:8081";
  // Bearer tokens; without it the server is loopback-only and every caller
  // is the local admin.
  std::string token_file;
  // PEM files; both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM files for the HTTP listener (admin and blob endpoints): HTTPS. Both
  // or neither; when neither is given, tls_cert_file/tls_key_file serve it
  // too.
  std::string http_tls_cert_file;
  std::string http_tls_key_file;
  // Largest request the server accepts (INVALID_ARGUMENT beyond it).
  int64_t max_message_bytes = 4 << 20;
  // Events a live watcher may fall behind before it is ended (resumable).
  int64_t watch_max_lag = 10000;
  // Recent events kept in memory for watchers.
  int64_t watch_ring_capacity = 8192;
  int64_t watch_wake_threads = 2;
  // Seconds given to in-flight calls at shutdown.
  int64_t shutdown_grace_seconds = 5;
  std::string log_level = "info";
  // core::Executor's pools (DefaultPools; docs/configuration.md).
  std::map<std::string, PoolSize> pools = DefaultPools();

  // Notification: bus subscription defaults (a subscription may set its own).
  int64_t bus_visibility_timeout_ms = 60000;
  int64_t bus_retry_delay_ms = 30 * 60 * 1000;
  int64_t bus_max_attempts = 48;
  // 1: publish every status change of the log on the bus (StatusBridge).
  int64_t bus_status_events = 1;
  // Notification: webhook delivery. webhook_workers: the most attempts at
  // once over every webhook (not threads: attempts wait on one event-loop
  // HTTP client); it also sizes the executor's "webhooks" pool (server.cc).
  int64_t webhook_workers = 8;
  int64_t webhook_per_endpoint_in_flight = 2;
  int64_t webhook_retry_base_ms = 1000;
  int64_t webhook_retry_max_ms = 10 * 60 * 1000;
  // PEM CA file https:// webhook receivers are verified against (default:
  // the system's CAs).
  std::string webhook_ca_file;
  // Finished jobs (DONE, FAILED) are deleted once this old
  // (core::JobPruner).
  int64_t job_retention_seconds = 3600;
  // The "media" section as JSON text (server/media/media_config.h reads it;
  // docs/media.md lists its keys). Empty: defaults.
  std::string media_json;
  // The "resourcing" section as JSON text (parsed by the resourcing engine;
  // docs/resourcing.md). Empty means the embedded defaults.
  std::string resourcing_json;
};

// Reads a JSON object whose keys are the field names above. Unknown keys
// and wrong types are INVALID_ARGUMENT naming the key.
absl::Status MergeConfigFile(const std::string& path, ServerConfig* config);
absl::Status MergeConfigJson(absl::string_view json_text, ServerConfig* config);
// True when `store` selects PostgreSQL.
bool UsesPostgres(const ServerConfig& config);
// Cross-field checks (TLS pair, positive limits).
absl::Status ValidateConfig(const ServerConfig& config);

}  // namespace switchboard::core
