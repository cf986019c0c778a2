#include "gateway/adapters/rabbitmq/topology.h"

#include "absl/strings/str_cat.h"

namespace switchboard::gateway::rabbitmq {
absl::Status DeclareExchange(AmqpClient& amqp, const std::string& exchange) {
  return amqp.DeclareExchange(exchange, "topic", /*durable=*/true);
}

absl::Status DeclareApp(AmqpClient& amqp, const std::string& exchange, const GorgApp& app, int64_t deferred_ttl_ms) {
  const std::string job = JobQueue(app.app_id);
  if (auto s = amqp.DeclareQueue(job, true); !s.ok()) return s;
  for (const auto& b : app.bindings) {
    if (auto s = amqp.BindQueue(job, exchange, b); !s.ok()) return s;
  }
  QueueArgs deferred;
  deferred.message_ttl_ms = deferred_ttl_ms;
  deferred.dead_letter_exchange = "";  // the default exchange routes by queue name
  deferred.dead_letter_routing_key = job;
  if (auto s = amqp.DeclareQueue(DeferredQueue(app.app_id), true, deferred); !s.ok()) return s;
  return amqp.DeclareQueue(DeadQueue(app.app_id), true);
}

}  // namespace switchboard::gateway::rabbitmq
