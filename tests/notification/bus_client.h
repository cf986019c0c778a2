#pragma once
// Test helpers for the bus: record a managed-app fixture, list bus events,
// create a subscription, and a Subscribe stream read on its own thread so a
// test can wait for the next delivery.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::testing {

// Calls the unary `method` with `req`; fails the test on error.
template <class Req, class Resp>
Resp CallOk(v1::NotificationService::Stub& stub,
            grpc::Status (v1::NotificationService::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
            const Req& req) {
  grpc::ClientContext ctx;
  Resp resp;
  grpc::Status s = (stub.*method)(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

// Records the managed-app fixture `fixture` (app_fixtures.h); fails the
// test on error.
v1::RecordManagedAppNotificationResponse RecordOk(v1::NotificationService::Stub& stub, const std::string& fixture);

// The bus events that `binding` matches (one page of up to 1000); fails the
// test on error.
std::vector<v1::BusEvent> BusEvents(v1::NotificationService::Stub& stub, const std::string& binding);

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
