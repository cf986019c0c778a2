#pragma once
// switchboard-gateway configuration: embedded defaults, then a JSON config
// file (--config), then environment variables, then flags, each overriding
// the one before. One table (kConfigKeys in config.cc) drives the flags, the
// config-file keys and --help, so they cannot drift apart.
//
// Secrets (token, eventgrid_key, eventgrid_topic_key, managedapp_sig,
// amqp_url, azure_storage_key) can also come from a file: the key
// `<name>_file` (flag or config) names a file whose content, without a
// trailing newline, is the secret; and from the environment variable
// SWITCHBOARD_<NAME> (upper case). docs/gateway.md lists every key.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/cli.h"

namespace switchboard::gateway {

struct GatewayConfig {
  // --- switchboardd ---
  std::string server = "127.0.0.1:50051";
  std::string token;  // secret
  std::string tls_ca;
  // Under Event Grid's 30 s webhook timeout, so a stalled call ends in a 503
  // Event Grid sees.
  int64_t timeout_seconds = 20;

  // --- HTTP ---
  std::string http_address = "127.0.0.1:8080";
  // PEM certificate chain and key: serve HTTPS on http_address. Both or
  // neither.
  std::string http_tls_cert_file;
  std::string http_tls_key_file;
  int64_t http_body_limit = 1 << 20;
  int64_t http_io_threads = 1;
  int64_t http_worker_threads = 8;
  // Requests waiting for a worker at most (beyond: 503 at once), and how
  // long one may wait before it is answered 503 unrun.
  int64_t http_queue_limit = 64;
  int64_t http_queue_timeout_ms = 5000;

  // --- Event Grid ---
  std::string eventgrid_key;  // secret: inbound aeg-sas-key / ?code=
  std::string eventgrid_topic_url;
  std::string eventgrid_topic_key;  // secret
  // PEM CA file the topic's certificate is verified against (default: the
  // system's CAs).
  std::string eventgrid_topic_ca_file;
  // Durable server-side cursor the publisher resumes from.
  std::string eventgrid_cursor = "gateway-eventgrid";
  // Ttl of the cursor's lease, with which one of several gateways publishes
  // at a time (the others stand by and take over); 0: no lease, every
  // gateway publishes every event.
  int64_t eventgrid_cursor_lease_seconds = 10;
  int64_t eventgrid_batch_max_events = 100;
  int64_t eventgrid_batch_max_bytes = 1000000;

  // --- Managed applications ---
  std::string managedapp_sig;  // secret

  // --- RabbitMQ ---
  std::string amqp_url;  // secret (may hold a password)
  std::string amqp_exchange = "exchange";
  // TLS for amqps:// (PEM files).
  std::string amqp_ca_file;
  std::string amqp_cert_file;
  std::string amqp_key_file;
  // Comma-separated "<app_id>:<binding>|<binding>" job queues to consume,
  // e.g. "gappsd:request.gapps.#".
  std::string amqp_consume;
  // Comma-separated "<bus queue>:<binding>|<binding>" bus subscriptions
  // whose deliveries are published to the exchange.
  std::string amqp_bridge;
  int64_t amqp_deferred_ttl_ms = 30 * 60 * 1000;

  // --- Azure Storage Queue ---
  std::string azure_queue_endpoint;  // e.g. http://127.0.0.1:10001/devstoreaccount1
  std::string azure_storage_account;
  std::string azure_storage_key;  // secret
  std::string run_request_queue = "resource-run-request";
  std::string run_request_poison_queue = "resource-run-request-poison";
  std::string status_queue = "terraform-output";
  std::string pipeline_output_queue;
  // Durable server-side cursor of the status queue emitter.
  std::string status_queue_cursor = "gateway-status-queue";
  // Ttl of that cursor's lease, with which one of several gateways emits at
  // a time (the others stand by and take over); 0: no lease, every gateway
  // emits every status message.
  int64_t status_queue_cursor_lease_seconds = 10;
  // Bodies the gateway puts on queues (status, poison): "base64" or "none".
  std::string azure_queue_message_encoding = "base64";
  // How long a dequeued message stays hidden while it is being handled.
  int64_t azure_queue_visibility_timeout_seconds = 30;

  std::string log_level = "info";
};

// Declares every config key as a flag on `cli`, plus --config and the
// `<secret>_file` flags, with SWITCHBOARD_<NAME> environment fallbacks.
void AddConfigFlags(Cli& cli, const GatewayConfig& defaults = GatewayConfig());

// Reads a JSON object whose keys are the flag names (without --). Unknown
// keys and wrong types are INVALID_ARGUMENT naming the key.
absl::Status MergeConfigJson(absl::string_view json_text, GatewayConfig* config);
absl::Status MergeConfigFile(const std::string& path, GatewayConfig* config);

// The whole chain: defaults, --config file, environment, flags, secret
// files. INVALID_ARGUMENT names the key at fault.
absl::Status LoadConfig(const Cli& cli, GatewayConfig* config);

// Cross-field checks: topic URL and key together, positive limits.
absl::Status ValidateConfig(const GatewayConfig& config);

}  // namespace switchboard::gateway
