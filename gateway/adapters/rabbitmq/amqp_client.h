#pragma once
// A small synchronous AMQP 0-9-1 client over rabbitmq-c: one connection and
// one channel, used by one thread. Every failure is an absl::Status
// (UNAVAILABLE for connection problems, so callers reconnect).

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace switchboard::gateway::rabbitmq {

struct Message {
  uint64_t delivery_tag = 0;
  std::string consumer_tag;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  std::string body;
  std::string app_id;
  std::string message_id;
  std::string content_type;
  // Integer headers (softfail-count...) and string headers.
  std::map<std::string, int64_t> int_headers;
  std::map<std::string, std::string> string_headers;
};

struct OutMessage {
  std::string exchange;
  std::string routing_key;
  std::string body;
  std::string app_id;
  std::string message_id;
  std::map<std::string, int64_t> int_headers;
  std::map<std::string, std::string> string_headers;
};

struct QueueArgs {
  std::optional<int64_t> message_ttl_ms;
  std::optional<std::string> dead_letter_exchange;
  std::optional<std::string> dead_letter_routing_key;
};

// TLS for amqps:// URLs (ignored for amqp://). The broker's certificate is
// always verified, name included.
struct AmqpTls {
  // PEM file of the CA(s) that signed the broker's certificate.
  std::string ca_file;
  // Optional client certificate and its key (PEM), for brokers that ask.
  std::string cert_file;
  std::string key_file;
};

class AmqpClient {
 public:
  AmqpClient() = default;
  ~AmqpClient();
  AmqpClient(const AmqpClient&) = delete;
  AmqpClient& operator=(const AmqpClient&) = delete;

  // amqp://user:pass@host:port/vhost, or amqps:// with `tls`.
  // INVALID_ARGUMENT for a bad URL or TLS file, UNAVAILABLE when the broker
  // cannot be reached, fails TLS verification or refuses the login.
  absl::Status Connect(const std::string& url, const AmqpTls& tls = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool connected() const { return conn_ != nullptr; }
  void Close();

  absl::Status DeclareExchange(const std::string& name, const std::string& type, bool durable);
  absl::Status DeclareQueue(const std::string& name, bool durable, const QueueArgs& args = {});
  absl::Status BindQueue(const std::string& queue, const std::string& exchange, const std::string& routing_key);
  absl::Status PurgeQueue(const std::string& queue);
  // Messages ready in a queue (passive declare); NOT_FOUND if it does not exist.
  absl::StatusOr<uint32_t> QueueDepth(const std::string& queue);

  // Puts the channel in confirm mode (publisher confirms).
  absl::Status EnableConfirms();
  // Publishes persistently and, in confirm mode, waits for the broker's ack.
  absl::Status Publish(const OutMessage& message, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  absl::Status Qos(uint16_t prefetch);
  // Consumes `queue`; deliveries carry `consumer_tag`.
  absl::Status Consume(const std::string& queue, const std::string& consumer_tag);
  // The next delivery; nullopt when none came within `timeout`.
  absl::StatusOr<std::optional<Message>> Next(std::chrono::milliseconds timeout);
  absl::Status Ack(uint64_t delivery_tag);
  absl::Status Reject(uint64_t delivery_tag, bool requeue);
  // Fetches one message with basic.get (auto-ack); nullopt if the queue is empty.
  absl::StatusOr<std::optional<Message>> Get(const std::string& queue);

 private:
  absl::Status Check(amqp_rpc_reply_t reply, const char* what);
  absl::Status ReopenChannel();
  amqp_connection_state_t conn_ = nullptr;
  bool confirms_ = false;
  uint64_t next_publish_tag_ = 1;
  static constexpr amqp_channel_t kChannel = 1;
};

}  // namespace switchboard::gateway::rabbitmq
