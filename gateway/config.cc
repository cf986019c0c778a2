#include "gateway/config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/adapters/storage_queue/adapter.h"
#include "wire/json_util.h"

namespace switchboard::gateway {
namespace {

struct Key {
  const char* name;
  std::string GatewayConfig::*str = nullptr;
  int64_t GatewayConfig::*num = nullptr;
  bool secret = false;
  const char* help = "";
};

Key S(const char* name, std::string GatewayConfig::*f, const char* help, bool secret = false) {
  return Key{name, f, nullptr, secret, help};
}
Key N(const char* name, int64_t GatewayConfig::*f, const char* help) { return Key{name, nullptr, f, false, help}; }

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      S("server", &GatewayConfig::server, "switchboardd gRPC address HOST:PORT."),
      S("token", &GatewayConfig::token, "Bearer token for switchboardd (role operator).", true),
      S("tls_ca", &GatewayConfig::tls_ca, "PEM CA file: talk TLS to switchboardd."),
      N("timeout_seconds", &GatewayConfig::timeout_seconds, "Deadline of each gRPC call, in seconds (keep it under Event Grid's 30 s)."),
      S("http_address", &GatewayConfig::http_address, "HTTP listen address HOST:PORT (port 0 picks one)."),
      S("http_tls_cert_file", &GatewayConfig::http_tls_cert_file,
        "PEM certificate chain: serve HTTPS on http_address (with http_tls_key_file). Event Grid delivers only "
        "to HTTPS endpoints."),
      S("http_tls_key_file", &GatewayConfig::http_tls_key_file, "PEM private key of http_tls_cert_file."),
      N("http_body_limit", &GatewayConfig::http_body_limit, "Largest HTTP request body in bytes; larger gets 413."),
      N("http_io_threads", &GatewayConfig::http_io_threads, "Threads doing HTTP I/O."),
      N("http_worker_threads", &GatewayConfig::http_worker_threads,
        "Threads running request handlers (each may wait on one gRPC call)."),
      N("http_queue_limit", &GatewayConfig::http_queue_limit,
        "Requests waiting for a handler thread at most; one more is answered 503 at once."),
      N("http_queue_timeout_ms", &GatewayConfig::http_queue_timeout_ms,
        "A request that waited this long for a handler thread is answered 503 instead of run."),
      S("eventgrid_key", &GatewayConfig::eventgrid_key,
        "Inbound Event Grid key, checked against the aeg-sas-key header or ?code=. Empty disables "
        "POST /api/eventgrid.",
        true),
      S("eventgrid_topic_url", &GatewayConfig::eventgrid_topic_url,
        "Outbound Event Grid topic endpoint for response events. Empty disables the publisher."),
      S("eventgrid_topic_key", &GatewayConfig::eventgrid_topic_key, "aeg-sas-key sent to the outbound topic.", true),
      S("eventgrid_topic_ca_file", &GatewayConfig::eventgrid_topic_ca_file,
        "PEM CA file an https:// topic's certificate is verified against (default: the system's CAs)."),
      S("eventgrid_cursor", &GatewayConfig::eventgrid_cursor,
        "Name of the durable server-side cursor the Event Grid publisher resumes from."),
      N("eventgrid_cursor_lease_seconds", &GatewayConfig::eventgrid_cursor_lease_seconds,
        "Ttl of the Event Grid cursor's lease: of several gateways on one switchboardd, the holder publishes and "
        "the others stand by, taking over within the ttl when it dies (at once when it stops). 1-300; 0: no "
        "lease, every gateway publishes every event."),
      N("eventgrid_batch_max_events", &GatewayConfig::eventgrid_batch_max_events,
        "Most events per outbound Event Grid POST."),
      N("eventgrid_batch_max_bytes", &GatewayConfig::eventgrid_batch_max_bytes,
        "Largest outbound Event Grid POST body (at most 1 MB)."),
      S("managedapp_sig", &GatewayConfig::managedapp_sig,
        "Secret expected in POST /resource?sig=. Empty disables the managed-app webhook.", true),
      S("amqp_url", &GatewayConfig::amqp_url,
        "RabbitMQ URL amqp://user:pass@host:port/vhost, or amqps:// for TLS. Empty disables the RabbitMQ adapter.",
        true),
      S("amqp_ca_file", &GatewayConfig::amqp_ca_file,
        "amqps: PEM file of the CA that signed the broker's certificate (verified, host name included)."),
      S("amqp_cert_file", &GatewayConfig::amqp_cert_file, "amqps: client certificate (PEM), with amqp_key_file."),
      S("amqp_key_file", &GatewayConfig::amqp_key_file, "amqps: the client certificate's key (PEM)."),
      S("amqp_exchange", &GatewayConfig::amqp_exchange, "Gorg topic exchange name."),
      S("amqp_consume", &GatewayConfig::amqp_consume,
        "Job queues to consume into the bus: comma-separated APP_ID:BINDING[|BINDING...], "
        "e.g. gappsd:request.gapps.#."),
      S("amqp_bridge", &GatewayConfig::amqp_bridge,
        "Bus bindings published out to the exchange: comma-separated QUEUE:BINDING[|BINDING...]; each names a "
        "durable bus subscription (created if missing), e.g. gateway_out:notify.gapps.#."),
      N("amqp_deferred_ttl_ms", &GatewayConfig::amqp_deferred_ttl_ms, "TTL of the Gorg deferred queues, in ms."),
      S("azure_queue_endpoint", &GatewayConfig::azure_queue_endpoint,
        "Azure Queue endpoint, e.g. http://127.0.0.1:10001/devstoreaccount1. Empty disables the queue adapter."),
      S("azure_storage_account", &GatewayConfig::azure_storage_account, "Storage account name for SharedKey."),
      S("azure_storage_key", &GatewayConfig::azure_storage_key, "Storage account key (base64) for SharedKey.", true),
      S("run_request_queue", &GatewayConfig::run_request_queue, "Queue of resource run requests."),
      S("run_request_poison_queue", &GatewayConfig::run_request_poison_queue,
        "Where undecodable or too-often-dequeued run requests go."),
      S("status_queue", &GatewayConfig::status_queue, "Queue the terraform-output status messages go to."),
      S("pipeline_output_queue", &GatewayConfig::pipeline_output_queue,
        "Optional queue of pipeline outputs fed to ReportPipelineOutputs."),
      S("status_queue_cursor", &GatewayConfig::status_queue_cursor,
        "Name of the durable server-side cursor the status queue emitter resumes from."),
      N("status_queue_cursor_lease_seconds", &GatewayConfig::status_queue_cursor_lease_seconds,
        "Ttl of the status queue cursor's lease: of several gateways on one switchboardd, the holder emits status "
        "messages and the others stand by, taking over within the ttl when it dies (at once when it stops). "
        "1-300; 0: no lease, every gateway emits every status message."),
      S("azure_queue_message_encoding", &GatewayConfig::azure_queue_message_encoding,
        "Encoding of the bodies put on status and poison queues: base64 (Azure's default) or none."),
      N("azure_queue_visibility_timeout_seconds", &GatewayConfig::azure_queue_visibility_timeout_seconds,
        "Seconds a dequeued message stays hidden; a message not deleted by then is delivered again."),
      S("log_level", &GatewayConfig::log_level, "debug, info, warn or error."),
  };
  return keys;
}

std::string EnvName(const char* name) { return absl::StrCat("SWITCHBOARD_", absl::AsciiStrToUpper(name)); }

absl::Status ReadSecretFile(const std::string& key, const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(key, "_file: cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  *out = std::move(s);
  return absl::OkStatus();
}

}  // namespace

void AddConfigFlags(Cli& cli, const GatewayConfig& defaults) {
  cli.AddString("config", "", "JSON config file whose keys are these flag names (docs/gateway.md).");
  for (const Key& k : Keys()) {
    std::string env = k.secret ? EnvName(k.name) : "";
    if (k.str) {
      std::string help = k.help;
      if (k.secret) {
        help = absl::StrCat(help, " Secret: prefer $", env, " or --", k.name, "_file.");
      }
      cli.AddString(k.name, defaults.*(k.str), help, env);
      if (k.secret) {
        cli.AddString(absl::StrCat(k.name, "_file"), "",
                      absl::StrCat("File holding ", k.name, " (a trailing newline is dropped)."));
      }
    } else {
      cli.AddInt(k.name, defaults.*(k.num), k.help);
    }
  }
}

absl::Status MergeConfigJson(absl::string_view json_text, GatewayConfig* config) {
  // The codecs' parser: a key given twice is refused, not last-one-wins.
  auto parsed = wire::ParseJson(json_text);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("config: ", parsed.status().message()));
  nlohmann::json j = std::move(*parsed);
  if (!j.is_object()) return absl::InvalidArgumentError("config: must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const Key* found = nullptr;
    bool is_file = false;
    for (const Key& k : Keys()) {
      if (key == k.name) found = &k;
      if (k.secret && key == absl::StrCat(k.name, "_file")) {
        found = &k;
        is_file = true;
      }
    }
    if (!found) return absl::InvalidArgumentError(absl::StrCat("config: unknown key '", key, "'; see --help"));
    if (found->str) {
      if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat("config: '", key, "' must be a string"));
      if (is_file) {
        if (auto s = ReadSecretFile(found->name, it->get<std::string>(), &(config->*(found->str))); !s.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("config: ", s.message()));
        }
      } else {
        config->*(found->str) = it->get<std::string>();
      }
    } else {
      if (!it->is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrCat("config: '", key, "' must be an integer"));
      }
      config->*(found->num) = it->get<int64_t>();
    }
  }
  return absl::OkStatus();
}

absl::Status MergeConfigFile(const std::string& path, GatewayConfig* config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--config: cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  if (auto s = MergeConfigJson(ss.str(), config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status LoadConfig(const Cli& cli, GatewayConfig* config) {
  if (cli.IsSet("config")) {
    if (auto s = MergeConfigFile(cli.GetString("config"), config); !s.ok()) return s;
  }
  for (const Key& k : Keys()) {
    if (k.str) {
      if (cli.IsSet(k.name)) {
        config->*(k.str) = cli.GetString(k.name);
      } else if (k.secret && cli.IsSet(absl::StrCat(k.name, "_file"))) {
        std::string file_flag = absl::StrCat(k.name, "_file");
        if (auto s = ReadSecretFile(absl::StrCat("--", k.name), cli.GetString(file_flag), &(config->*(k.str)));
            !s.ok()) {
          return s;
        }
      }
    } else if (cli.IsSet(k.name)) {
      config->*(k.num) = cli.GetInt(k.name);
    }
  }
  return ValidateConfig(*config);
}

absl::Status ValidateConfig(const GatewayConfig& c) {
  if (c.server.empty()) return absl::InvalidArgumentError("server: must not be empty (HOST:PORT)");
  if (c.http_address.empty()) return absl::InvalidArgumentError("http_address: must not be empty (HOST:PORT)");
  if (c.http_tls_cert_file.empty() != c.http_tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "http_tls_cert_file and http_tls_key_file go together: give both (HTTPS) or neither (HTTP)");
  }
  if (c.timeout_seconds <= 0) return absl::InvalidArgumentError("timeout_seconds: must be positive");
  if (c.http_body_limit <= 0) return absl::InvalidArgumentError("http_body_limit: must be positive");
  if (c.http_io_threads < 1 || c.http_io_threads > 64) {
    return absl::InvalidArgumentError("http_io_threads: must be 1-64");
  }
  if (c.http_worker_threads < 1 || c.http_worker_threads > 256) {
    return absl::InvalidArgumentError("http_worker_threads: must be 1-256");
  }
  if (c.http_queue_limit < 1 || c.http_queue_limit > 100000) {
    return absl::InvalidArgumentError("http_queue_limit: must be 1-100000");
  }
  if (c.http_queue_timeout_ms < 1 || c.http_queue_timeout_ms > 600000) {
    return absl::InvalidArgumentError("http_queue_timeout_ms: must be 1-600000");
  }
  if (!c.eventgrid_topic_url.empty()) {
    if (!absl::StartsWith(c.eventgrid_topic_url, "http://") && !absl::StartsWith(c.eventgrid_topic_url, "https://")) {
      return absl::InvalidArgumentError("eventgrid_topic_url: must start with http:// or https://");
    }
    if (c.eventgrid_topic_key.empty()) {
      return absl::InvalidArgumentError(
          "eventgrid_topic_key: required with eventgrid_topic_url (or $SWITCHBOARD_EVENTGRID_TOPIC_KEY)");
    }
  }
  if (c.eventgrid_batch_max_events < 1 || c.eventgrid_batch_max_events > 5000) {
    return absl::InvalidArgumentError("eventgrid_batch_max_events: must be 1-5000");
  }
  if (c.eventgrid_batch_max_bytes < 1024 || c.eventgrid_batch_max_bytes > 1000000) {
    return absl::InvalidArgumentError("eventgrid_batch_max_bytes: must be 1024-1000000 (Event Grid's 1 MB limit)");
  }
  if (c.eventgrid_cursor.empty()) return absl::InvalidArgumentError("eventgrid_cursor: must not be empty");
  if (c.eventgrid_cursor_lease_seconds < 0 || c.eventgrid_cursor_lease_seconds > 300) {
    return absl::InvalidArgumentError("eventgrid_cursor_lease_seconds: must be 0 (no lease) or 1-300");
  }
  if (c.status_queue_cursor_lease_seconds < 0 || c.status_queue_cursor_lease_seconds > 300) {
    return absl::InvalidArgumentError("status_queue_cursor_lease_seconds: must be 0 (no lease) or 1-300");
  }
  if (c.amqp_deferred_ttl_ms <= 0) return absl::InvalidArgumentError("amqp_deferred_ttl_ms: must be positive");
  if (auto s = storage_queue::ValidateStorageQueueConfig(c); !s.ok()) return s;
  return absl::OkStatus();
}

}  // namespace switchboard::gateway
