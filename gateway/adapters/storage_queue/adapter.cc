#include "gateway/adapters/storage_queue/adapter.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "gateway/adapters/storage_queue/handlers.h"

namespace switchboard::gateway::storage_queue {

bool IsValidQueueName(absl::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum) continue;
    if (c != '-' || i == 0 || i + 1 == name.size() || name[i - 1] == '-') return false;
  }
  return true;
}

absl::Status ValidateStorageQueueConfig(const GatewayConfig& c) {
  if (c.azure_queue_endpoint.empty()) return absl::OkStatus();
  if (!absl::StartsWith(c.azure_queue_endpoint, "http://") && !absl::StartsWith(c.azure_queue_endpoint, "https://")) {
    return absl::InvalidArgumentError(
        "azure_queue_endpoint: must start with http:// or https:// (e.g. http://127.0.0.1:10001/devstoreaccount1)");
  }
  if (c.azure_storage_account.empty()) {
    return absl::InvalidArgumentError("azure_storage_account: required with azure_queue_endpoint");
  }
  if (c.azure_storage_key.empty()) {
    return absl::InvalidArgumentError(
        "azure_storage_key: required with azure_queue_endpoint (or $SWITCHBOARD_AZURE_STORAGE_KEY, "
        "--azure_storage_key_file)");
  }
  std::string raw;
  if (!absl::Base64Unescape(c.azure_storage_key, &raw) || raw.empty()) {
    return absl::InvalidArgumentError("azure_storage_key: must be the account key in base64");
  }
  const std::pair<const char*, const std::string*> names[] = {
      {"run_request_queue", &c.run_request_queue},
      {"run_request_poison_queue", &c.run_request_poison_queue},
      {"status_queue", &c.status_queue},
  };
  for (const auto& [key, value] : names) {
    if (!IsValidQueueName(*value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          key, ": '", *value, "' is not a queue name (3-63 lower-case letters, digits and single dashes)"));
    }
  }
  if (!c.pipeline_output_queue.empty()) {
    if (!IsValidQueueName(c.pipeline_output_queue) || c.pipeline_output_queue.size() > 56) {
      return absl::InvalidArgumentError(
          absl::StrCat("pipeline_output_queue: '", c.pipeline_output_queue,
                       "' is not a queue name (3-56 lower-case letters, digits and single dashes; "
                       "'-poison' is appended for its poison queue)"));
    }
  }
  if (c.run_request_queue == c.run_request_poison_queue || c.run_request_queue == c.status_queue ||
      (!c.pipeline_output_queue.empty() &&
       (c.pipeline_output_queue == c.run_request_queue || c.pipeline_output_queue == c.status_queue))) {
    return absl::InvalidArgumentError(
        "run_request_queue, run_request_poison_queue, status_queue and pipeline_output_queue must differ");
  }
  if (c.azure_queue_visibility_timeout_seconds < 1 || c.azure_queue_visibility_timeout_seconds > 7 * 24 * 3600) {
    return absl::InvalidArgumentError("azure_queue_visibility_timeout_seconds: must be 1-604800 (7 days)");
  }
  if (c.status_queue_cursor.empty()) return absl::InvalidArgumentError("status_queue_cursor: must not be empty");
  if (c.azure_queue_message_encoding != "base64" && c.azure_queue_message_encoding != "none") {
    return absl::InvalidArgumentError(absl::StrCat("azure_queue_message_encoding: '", c.azure_queue_message_encoding,
                                                   "' is not base64 or none"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StorageQueueAdapter>> StorageQueueAdapter::Start(const GatewayConfig& config,
                                                                              const client::Connection* conn,
                                                                              Hooks hooks) {
  if (auto s = ValidateStorageQueueConfig(config); !s.ok()) return s;
  std::unique_ptr<StorageQueueAdapter> a(new StorageQueueAdapter());
  QueueAccount account;
  account.endpoint = config.azure_queue_endpoint;
  account.account = config.azure_storage_account;
  account.key = config.azure_storage_key;
  a->client_ = std::make_unique<QueueClient>(account);
  const bool base64 = config.azure_queue_message_encoding == "base64";
  auto ready = [conn](std::chrono::milliseconds t) { return ServerReady(*conn, t); };

  ConsumerOptions runs;
  runs.queue = config.run_request_queue;
  runs.poison_queue = config.run_request_poison_queue;
  runs.encode_base64 = base64;
  runs.kind = "run_request";
  runs.visibility_seconds = static_cast<int>(config.azure_queue_visibility_timeout_seconds);
  a->run_requests_ = std::make_unique<QueueConsumer>(a->client_.get(), runs, RunRequestHandler(conn), ready, hooks);

  if (!config.pipeline_output_queue.empty()) {
    ConsumerOptions outs;
    outs.queue = config.pipeline_output_queue;
    outs.poison_queue = absl::StrCat(config.pipeline_output_queue, "-poison");
    outs.encode_base64 = base64;
    outs.kind = "pipeline_output";
    outs.visibility_seconds = static_cast<int>(config.azure_queue_visibility_timeout_seconds);
    a->pipeline_outputs_ =
        std::make_unique<QueueConsumer>(a->client_.get(), outs, PipelineOutputHandler(conn), ready, hooks);
  }

  StatusEmitterOptions eo;
  eo.queue = config.status_queue;
  eo.cursor = absl::StrCat("cursors/", config.status_queue_cursor);
  eo.encode_base64 = base64;
  eo.lease_ttl = std::chrono::seconds(config.status_queue_cursor_lease_seconds);
  a->emitter_ = std::make_unique<StatusEmitter>(conn, a->client_.get(), eo, hooks);

  a->run_requests_->Start();
  if (a->pipeline_outputs_) a->pipeline_outputs_->Start();
  a->emitter_->Start();
  log::Info("azure storage queue adapter started",
            {{"endpoint", config.azure_queue_endpoint},
             {"run_request_queue", config.run_request_queue},
             {"run_request_poison_queue", config.run_request_poison_queue},
             {"status_queue", config.status_queue},
             {"pipeline_output_queue", config.pipeline_output_queue},
             {"status_queue_cursor", config.status_queue_cursor},
             {"status_queue_cursor_lease_seconds", config.status_queue_cursor_lease_seconds}});
  return a;
}

StorageQueueAdapter::~StorageQueueAdapter() { Stop(); }

void StorageQueueAdapter::Stop() {
  if (run_requests_) run_requests_->Stop();
  if (pipeline_outputs_) pipeline_outputs_->Stop();
  if (emitter_) emitter_->Stop();
}

}  // namespace switchboard::gateway::storage_queue
