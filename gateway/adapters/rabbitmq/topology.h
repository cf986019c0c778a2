#pragma once
// The Gorg topology (docs/wire-formats.md section 3) on a RabbitMQ broker:
//  * a durable topic exchange (default name "exchange");
//  * per application, a durable job queue "<app_id>_job_q" bound with the
//    application's routing keys;
//  * a durable deferred queue "<app_id>_deferred_q" whose messages expire
//    after the retry delay (x-message-ttl) and are dead-lettered through
//    the default exchange back to the job queue;
//  * a durable "<app_id>_dead_q" where the gateway puts messages that can
//    never be accepted (unparsable JSON, schema violations), with the
//    reason in the `x-switchboard-error` header.
// Declarations are idempotent, so every (re)connection declares again.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/adapters/rabbitmq/amqp_client.h"
#include "gateway/adapters/rabbitmq/consume_spec.h"

namespace switchboard::gateway::rabbitmq {

inline std::string JobQueue(const std::string& app) { return app + "_job_q"; }
inline std::string DeferredQueue(const std::string& app) { return app + "_deferred_q"; }
inline std::string DeadQueue(const std::string& app) { return app + "_dead_q"; }

absl::Status DeclareExchange(AmqpClient& amqp, const std::string& exchange);
absl::Status DeclareApp(AmqpClient& amqp, const std::string& exchange, const GorgApp& app, int64_t deferred_ttl_ms);

}  // namespace switchboard::gateway::rabbitmq
