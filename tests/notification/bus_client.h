#pragma once
// Test helpers for the bus: create a subscription, and a Subscribe stream
// read on its own thread so a test can wait for the next delivery.

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::testing {

// Creates subscriptions/<queue>; fails the test on error.
v1::Subscription CreateSubscriptionOk(v1::NotificationService::Stub& stub, const std::string& queue,
                                      const std::string& binding, int retry_delay_ms = 200, int max_attempts = 48,
                                      int visibility_ms = 60000);

class SubscriberThread {
 public:
  SubscriberThread(v1::NotificationService::Stub& stub, const std::string& queue, int max_in_flight = 16);
  ~SubscriberThread();
  // The next delivery, or nullopt after `timeout_ms`.
  std::optional<v1::Delivery> Next(int timeout_ms = 10000);
  // Cancels the stream and waits for it to end.
  void Stop();
  grpc::Status status() const { return status_; }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::Delivery>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::Delivery> got_;
  bool ended_ = false;
  grpc::Status status_;
};

grpc::Status Ack(v1::NotificationService::Stub& stub, const v1::Delivery& d);
grpc::Status Nack(v1::NotificationService::Stub& stub, const v1::Delivery& d, v1::BusError::Type type,
                  v1::NackResponse* resp = nullptr);

}  // namespace switchboard::testing
