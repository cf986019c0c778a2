#pragma once
// Pieces of the storage queue end-to-end tests: reading what the gateway
// put on a queue (status or poison messages, base64 JSON), the status
// messages the server's log says should exist, and a gateway config.

#include <grpcpp/grpcpp.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "gateway/adapters/storage_queue/queue_client.h"
#include "gateway/config.h"

namespace switchboard::testing {

// Drains `queue` (get + delete) and decodes each body (base64 of JSON, or
// raw JSON); appends to `out`. Returns how many were read.
int DrainJson(const gateway::storage_queue::QueueClient& q, const std::string& queue, std::vector<nlohmann::json>* out);

// Every StatusReport event of the resourcing log so far, encoded as the
// gateway encodes it (the docs/wire-formats.md section 2 JSON), in log order, with the
// highest sequence in *last_sequence.
std::vector<nlohmann::json> LogStatusMessages(const std::shared_ptr<grpc::Channel>& channel,
                                              int64_t* last_sequence = nullptr);

// A gateway config for the server at `server_address` with queue names
// unique to this test (prefix `tag`).
gateway::GatewayConfig QueueGatewayConfig(const std::string& server_address, const std::string& tag);

// Messages currently on `queue` (peek, up to 32).
std::vector<gateway::storage_queue::QueueMessage> Peek(const gateway::storage_queue::QueueClient& q,
                                                        const std::string& queue);

// Messages on `queue`, hidden ones included (0 for a missing queue).
int64_t Count(const gateway::storage_queue::QueueClient& q, const std::string& queue);

}  // namespace switchboard::testing
