#pragma once
// switchboardd -> RabbitMQ: for each configured bridge, a durable
// server-side bus subscription ("subscriptions/<queue>", created with the
// bridge's bindings if it does not exist) is read with
// NotificationService.Subscribe, and every delivery is published to the
// Gorg exchange as the envelope's JSON with routing key = event_name and
// the AMQP properties app_id = event_sender_id, message_id = event_uuid,
// header softfail-count, persistent. The channel is in confirm mode and the
// bus delivery is Acked only after the broker confirmed the message, so a
// broker restart or a gateway crash loses nothing: an unconfirmed message is
// published again (after a reconnect with capped exponential backoff), and
// an unacked delivery comes back from the server after its visibility
// timeout. Delivery is at least once; message_id lets receivers drop
// duplicates.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>

#include "clients/lib/client.h"
#include "gateway/adapters/rabbitmq/amqp_client.h"
#include "gateway/adapters/rabbitmq/topology.h"
#include "gateway/http/metrics.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::gateway::rabbitmq {

struct Bridge {
  std::string queue;  // bus subscription queue name
  std::vector<std::string> bindings;
};

struct OutboundOptions {
  std::string url;
  AmqpTls tls;  // for amqps:// URLs
  std::string exchange = "exchange";
  std::vector<Bridge> bridges;
  int32_t max_in_flight = 64;
  std::chrono::milliseconds max_backoff{5000};
};

// The AMQP message for one bus envelope (pure; exposed for tests).
OutMessage ToAmqp(const std::string& exchange, const v1::Delivery& delivery);

class Outbound {
 public:
  Outbound(const client::Connection* conn, OutboundOptions options, Metrics* metrics);
  ~Outbound();
  void Start();
  void Stop();
  // Messages confirmed by the broker and acked on the bus.
  uint64_t forwarded() const { return forwarded_.load(); }

 private:
  struct Worker {
    Bridge bridge;
    std::thread thread;
    AmqpClient amqp;
    std::mutex ctx_mu;
    grpc::ClientContext* ctx = nullptr;  // the open Subscribe call, for Stop
  };
  void Run(Worker* w);
  absl::Status EnsureSubscription(const Bridge& b);
  // Publishes until the broker confirmed; false if stopping first.
  bool Forward(Worker* w, const v1::Delivery& d);
  void AckDelivery(const v1::Delivery& d);
  void Sleep(std::chrono::milliseconds d);

  const client::Connection* conn_;
  OutboundOptions options_;
  Metrics* metrics_;
  std::unique_ptr<v1::NotificationService::Stub> stub_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> forwarded_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace switchboard::gateway::rabbitmq
