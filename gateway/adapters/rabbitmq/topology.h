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

namespace switchboard::gateway::rabbitmq {

struct GorgApp {
  std::string app_id;
  std::vector<std::string> bindings;
};

inline std::string JobQueue(const std::string& app) { return app + "_job_q"; }
inline std::string DeferredQueue(const std::string& app) { return app + "_deferred_q"; }
inline std::string DeadQueue(const std::string& app) { return app + "_dead_q"; }

// "gappsd:request.gapps.#|notify.gapps.#,other:a.b" -> apps. Empty -> none.
// INVALID_ARGUMENT names the entry at fault (app ids are [A-Za-z0-9_.-]+,
// bindings are checked as topic patterns).
// `key` names the config key in errors. amqp_bridge uses the same form with
// the bus subscription queue in place of the app id.
absl::StatusOr<std::vector<GorgApp>> ParseConsumeSpec(absl::string_view spec,
                                                      absl::string_view key = "amqp_consume");

absl::Status DeclareExchange(AmqpClient& amqp, const std::string& exchange);
absl::Status DeclareApp(AmqpClient& amqp, const std::string& exchange, const GorgApp& app, int64_t deferred_ttl_ms);

}  // namespace switchboard::gateway::rabbitmq
