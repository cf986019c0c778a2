#pragma once
// The Azure Storage Queue adapter of switchboard-gateway
// (docs/gateway-storage-queue.md): consumes run requests (and, optionally,
// pipeline outputs) into switchboardd and emits status messages to the
// status queue. Enabled when `azure_queue_endpoint` is set.

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/lib/client.h"
#include "gateway/adapters/storage_queue/hooks.h"
#include "gateway/adapters/storage_queue/queue_client.h"
#include "gateway/adapters/storage_queue/queue_consumer.h"
#include "gateway/adapters/storage_queue/status_emitter.h"
#include "gateway/config.h"

namespace switchboard::gateway::storage_queue {

// Checks the adapter's keys (only when azure_queue_endpoint is set): account
// and key present, the key base64, queue names valid Azure queue names,
// encoding base64 or none. INVALID_ARGUMENT names the key.
absl::Status ValidateStorageQueueConfig(const GatewayConfig& config);

// True if a queue name follows Azure's rules: 3-63 characters, lower-case
// letters, digits and single dashes, starting and ending with a letter or
// digit.
bool IsValidQueueName(absl::string_view name);

class StorageQueueAdapter {
 public:
  // Starts the consumers and the status emitter (they connect and create
  // their queues lazily, retrying). `conn` must outlive the adapter.
  static absl::StatusOr<std::unique_ptr<StorageQueueAdapter>> Start(const GatewayConfig& config,
                                                                    const client::Connection* conn, Hooks hooks);
  ~StorageQueueAdapter();
  void Stop();  // idempotent

  const StatusEmitter& emitter() const { return *emitter_; }

 private:
  StorageQueueAdapter() = default;
  std::unique_ptr<QueueClient> client_;
  std::unique_ptr<QueueConsumer> run_requests_;
  std::unique_ptr<QueueConsumer> pipeline_outputs_;
  std::unique_ptr<StatusEmitter> emitter_;
};

}  // namespace switchboard::gateway::storage_queue
