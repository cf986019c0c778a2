#include "server/core/config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace switchboard::core {

std::map<std::string, PoolSize> DefaultPools() {
  return {
      // Git work of the resourcing engine: one strand per repository
      // (infrastructure, modules), so two threads let both move at once.
      {"git", {2, 1024}},
      // Resourcing run steps that are not git: pipeline runs (each holds a
      // thread while its command runs), reads after a commit.
      {"resourcing", {4, 1024}},
      // Housekeeping timers: the status bridge's standby retries, leader
      // ticks.
      {"core", {1, 1024}},
  };
}

namespace {

std::string PoolNames(const std::map<std::string, PoolSize>& pools) {
  std::vector<std::string> names;
  for (const auto& [name, size] : pools) names.push_back(name);
  return absl::StrJoin(names, ", ");
}

// "pools": {name: {"threads": n, "queue_limit": n}}; only the given fields
// change.
absl::Status MergePools(const nlohmann::json& v, std::map<std::string, PoolSize>* pools) {
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        "key 'pools' must be an object such as {\"git\": {\"threads\": 2, \"queue_limit\": 1024}}");
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string key = absl::StrCat("pools.", it.key());
    auto pool = pools->find(it.key());
    if (pool == pools->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key, "': unknown pool; the pools are ", PoolNames(*pools)));
    }
    if (!it.value().is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key, "' must be an object with threads and/or queue_limit"));
    }
    for (auto f = it.value().begin(); f != it.value().end(); ++f) {
      const std::string field = absl::StrCat(key, ".", f.key());
      int64_t* out = f.key() == "threads" ? &pool->second.threads
                     : f.key() == "queue_limit" ? &pool->second.queue_limit
                                                : nullptr;
      if (out == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("key '", field, "': unknown; a pool takes threads and queue_limit"));
      }
      if (!f.value().is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrCat("key '", field, "' must be an integer"));
      }
      *out = f.value().get<int64_t>();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MergeConfigFile(const std::string& path, ServerConfig* config) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--config: cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::Status s = MergeConfigJson(ss.str(), config);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("--config ", path, ": ", s.message()));
  return s;
}

absl::Status MergeConfigJson(absl::string_view json_text, ServerConfig* c) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false, /*ignore_comments=*/true);
  if (j.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("must be a JSON object of settings");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    auto str = [&](std::string* out) -> absl::Status {
      if (!v.is_string()) return absl::InvalidArgumentError(absl::StrCat("key '", k, "' must be a string"));
      *out = v.get<std::string>();
      return absl::OkStatus();
    };
    auto num = [&](int64_t* out) -> absl::Status {
      if (!v.is_number_integer()) return absl::InvalidArgumentError(absl::StrCat("key '", k, "' must be an integer"));
      *out = v.get<int64_t>();
      return absl::OkStatus();
    };
    auto boolean = [&](bool* out) -> absl::Status {
      if (!v.is_boolean()) return absl::InvalidArgumentError(absl::StrCat("key '", k, "' must be true or false"));
      *out = v.get<bool>();
      return absl::OkStatus();
    };
    absl::Status s;
    if (k == "data_dir") s = str(&c->data_dir);
    else if (k == "store") s = str(&c->store);
    else if (k == "store_schema") s = str(&c->store_schema);
    else if (k == "store_listen") s = boolean(&c->store_listen);
    else if (k == "grpc_address") s = str(&c->grpc_address);
    else if (k == "http_address") s = str(&c->http_address);
    else if (k == "token_file") s = str(&c->token_file);
    else if (k == "tls_cert_file") s = str(&c->tls_cert_file);
    else if (k == "tls_key_file") s = str(&c->tls_key_file);
    else if (k == "http_tls_cert_file") s = str(&c->http_tls_cert_file);
    else if (k == "http_tls_key_file") s = str(&c->http_tls_key_file);
    else if (k == "log_level") s = str(&c->log_level);
    else if (k == "max_message_bytes") s = num(&c->max_message_bytes);
    else if (k == "watch_max_lag") s = num(&c->watch_max_lag);
    else if (k == "watch_ring_capacity") s = num(&c->watch_ring_capacity);
    else if (k == "watch_wake_threads") s = num(&c->watch_wake_threads);
    else if (k == "shutdown_grace_seconds") s = num(&c->shutdown_grace_seconds);
    else if (k == "bus_visibility_timeout_ms") s = num(&c->bus_visibility_timeout_ms);
    else if (k == "bus_retry_delay_ms") s = num(&c->bus_retry_delay_ms);
    else if (k == "bus_max_attempts") s = num(&c->bus_max_attempts);
    else if (k == "bus_status_events") s = num(&c->bus_status_events);
    else if (k == "webhook_workers") s = num(&c->webhook_workers);
    else if (k == "webhook_ca_file") s = str(&c->webhook_ca_file);
    else if (k == "webhook_per_endpoint_in_flight") s = num(&c->webhook_per_endpoint_in_flight);
    else if (k == "webhook_retry_base_ms") s = num(&c->webhook_retry_base_ms);
    else if (k == "webhook_retry_max_ms") s = num(&c->webhook_retry_max_ms);
    else if (k == "job_retention_seconds") s = num(&c->job_retention_seconds);
    else if (k == "pools") s = MergePools(v, &c->pools);
    else if (k == "media") c->media_json = v.dump();
    else if (k == "resourcing") c->resourcing_json = v.dump();
    else if (k == "notification" || k == "gateway") {
      // Sections of the service issues; accepted so one file serves all.
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key '", k, "'; see docs/configuration.md for the keys"));
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

bool UsesPostgres(const ServerConfig& c) {
  return absl::StartsWith(c.store, "postgres://") || absl::StartsWith(c.store, "postgresql://");
}

absl::Status ValidateConfig(const ServerConfig& c) {
  if (c.data_dir.empty()) return absl::InvalidArgumentError("data_dir must not be empty");
  if (!c.store.empty() && c.store != "sqlite" && !UsesPostgres(c)) {
    return absl::InvalidArgumentError(
        "store must be \"sqlite\" (the default: a file in data_dir) or a PostgreSQL URI starting with "
        "postgres:// or postgresql:// (e.g. postgresql:///switchboard?host=/run/postgresql); it is neither");
  }
  if (UsesPostgres(c)) {
    const std::string& s = c.store_schema;
    bool ok = !s.empty() && s.size() <= 63 && !(s[0] >= '0' && s[0] <= '9');
    for (char ch : s) ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_');
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "store_schema '", s.substr(0, 64),
          "' must be 1 to 63 lower-case letters, digits and underscores, not starting with a digit"));
    }
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return absl::InvalidArgumentError("tls_cert_file and tls_key_file go together: give both or neither");
  }
  if (c.http_tls_cert_file.empty() != c.http_tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "http_tls_cert_file and http_tls_key_file go together: give both (HTTPS) or neither");
  }
  if (c.max_message_bytes < 1024 || c.max_message_bytes > (256LL << 20)) {
    return absl::InvalidArgumentError("max_message_bytes must be between 1024 and 268435456");
  }
  if (c.watch_max_lag < 1) return absl::InvalidArgumentError("watch_max_lag must be at least 1");
  if (c.watch_ring_capacity < 16) return absl::InvalidArgumentError("watch_ring_capacity must be at least 16");
  if (c.watch_wake_threads < 1 || c.watch_wake_threads > 16)
    return absl::InvalidArgumentError("watch_wake_threads must be between 1 and 16");
  if (c.shutdown_grace_seconds < 0) return absl::InvalidArgumentError("shutdown_grace_seconds must not be negative");
  struct Range {
    const char* key;
    int64_t value, min, max;
  };
  for (const Range& r : {Range{"bus_visibility_timeout_ms", c.bus_visibility_timeout_ms, 100, 12LL * 3600 * 1000},
                         Range{"bus_retry_delay_ms", c.bus_retry_delay_ms, 0, 7LL * 24 * 3600 * 1000},
                         Range{"bus_max_attempts", c.bus_max_attempts, 1, 10000},
                         Range{"bus_status_events", c.bus_status_events, 0, 1},
                         Range{"webhook_workers", c.webhook_workers, 1, 256},
                         Range{"webhook_per_endpoint_in_flight", c.webhook_per_endpoint_in_flight, 1, 256},
                         Range{"webhook_retry_base_ms", c.webhook_retry_base_ms, 1, 3600LL * 1000},
                         Range{"webhook_retry_max_ms", c.webhook_retry_max_ms, 1, 24LL * 3600 * 1000},
                         Range{"job_retention_seconds", c.job_retention_seconds, 0, 365LL * 24 * 3600}}) {
    if (r.value < r.min || r.value > r.max) {
      return absl::InvalidArgumentError(
          absl::StrCat(r.key, " is ", r.value, "; it must be between ", r.min, " and ", r.max));
    }
  }
  for (const auto& [name, size] : c.pools) {
    for (const Range& r : {Range{"threads", size.threads, 1, 64}, Range{"queue_limit", size.queue_limit, 1, 1000000}}) {
      if (r.value < r.min || r.value > r.max) {
        return absl::InvalidArgumentError(absl::StrCat("pools.", name, ".", r.key, " is ", r.value,
                                                       "; it must be between ", r.min, " and ", r.max));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace switchboard::core
