#pragma once
// RabbitMQ -> switchboardd: consumes the configured Gorg job queues and
// publishes each envelope on the bus (NotificationService.Publish, with the
// event_uuid as request_id). A message is acked to RabbitMQ only after the
// server accepted it; while the server is unavailable the message stays
// unacked and is retried, and if the gateway stops it goes back to the
// queue. A message that can never be accepted (unparsable, schema
// violation, a reused event_uuid) is copied with publisher confirms to
// "<app_id>_dead_q" with the reason, then acked. Broker failures reconnect
// with capped exponential backoff and declare the topology again.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clients/lib/client.h"
#include "gateway/adapters/rabbitmq/amqp_client.h"
#include "gateway/adapters/rabbitmq/topology.h"
#include "gateway/http/metrics.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::gateway::rabbitmq {

struct InboundOptions {
  std::string url;
  AmqpTls tls;  // for amqps:// URLs
  std::string exchange = "exchange";
  std::vector<GorgApp> apps;
  int64_t deferred_ttl_ms = 30 * 60 * 1000;
  uint16_t prefetch = 64;
  std::chrono::milliseconds max_backoff{5000};
};

class Inbound {
 public:
  Inbound(const client::Connection* conn, InboundOptions options, Metrics* metrics);
  ~Inbound();
  void Start();
  void Stop();
  // True once the topology is declared and consuming (for tests and /healthz).
  bool consuming() const { return consuming_.load(); }

 private:
  void Loop();
  absl::Status Session();
  // OK to ack; an error to reconnect (the message was not acked).
  absl::Status Handle(const Message& m);
  absl::Status DeadLetter(const Message& m, const std::string& reason);
  void Sleep(std::chrono::milliseconds d);

  const client::Connection* conn_;
  InboundOptions options_;
  Metrics* metrics_;
  std::unique_ptr<v1::NotificationService::Stub> stub_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> consuming_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  AmqpClient consumer_;
  AmqpClient publisher_;
};

}  // namespace switchboard::gateway::rabbitmq
