#include "tests/notification/bus_client.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tests/core/test_support.h"
#include "tests/notification/app_fixtures.h"

namespace switchboard::testing {

v1::RecordManagedAppNotificationResponse RecordOk(v1::NotificationService::Stub& stub, const std::string& fixture) {
  v1::RecordManagedAppNotificationRequest req;
  req.set_request_id(NewRequestId());
  *req.mutable_notification() = AppFixture(fixture);
  return CallOk(stub, &v1::NotificationService::Stub::RecordManagedAppNotification, req);
}

std::vector<v1::BusEvent> BusEvents(v1::NotificationService::Stub& stub, const std::string& binding) {
  grpc::ClientContext ctx;
  v1::ListBusEventsRequest req;
  req.set_binding(binding);
  req.set_page_size(1000);
  v1::ListBusEventsResponse resp;
  EXPECT_TRUE(stub.ListBusEvents(&ctx, req, &resp).ok());
  return {resp.events().begin(), resp.events().end()};
}

v1::Subscription CreateSubscriptionOk(v1::NotificationService::Stub& stub, const std::string& queue,
                                      const std::string& binding, int retry_delay_ms, int max_attempts,
                                      int visibility_ms) {
  v1::CreateSubscriptionRequest req;
  req.set_request_id(NewRequestId());
  req.mutable_subscription()->set_queue(queue);
  req.mutable_subscription()->add_bindings(binding);
  req.mutable_subscription()->set_max_attempts(max_attempts);
  req.mutable_subscription()->mutable_retry_delay()->set_nanos(0);
  req.mutable_subscription()->mutable_retry_delay()->set_seconds(retry_delay_ms / 1000);
  req.mutable_subscription()->mutable_retry_delay()->set_nanos((retry_delay_ms % 1000) * 1000000);
  req.mutable_subscription()->mutable_visibility_timeout()->set_seconds(visibility_ms / 1000);
  req.mutable_subscription()->mutable_visibility_timeout()->set_nanos((visibility_ms % 1000) * 1000000);
  return CallOk(stub, &v1::NotificationService::Stub::CreateSubscription, req);
}

SubscriberThread::SubscriberThread(v1::NotificationService::Stub& stub, const std::string& queue,
                                   int max_in_flight) {
  v1::SubscribeRequest req;
  req.set_subscription("subscriptions/" + queue);
  req.set_max_in_flight(max_in_flight);
  reader_ = stub.Subscribe(&ctx_, req);
  // Wait for the server's headers: once they arrive the stream is attached.
  reader_->WaitForInitialMetadata();
  thread_ = std::thread([this] {
    v1::Delivery d;
    while (reader_->Read(&d)) {
      std::lock_guard<std::mutex> lock(mu_);
      got_.push_back(d);
      cv_.notify_all();
    }
    grpc::Status st = reader_->Finish();
    std::lock_guard<std::mutex> lock(mu_);
    status_ = st;
    ended_ = true;
    cv_.notify_all();
  });
}

SubscriberThread::~SubscriberThread() { Stop(); }

std::optional<v1::Delivery> SubscriberThread::Next(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !got_.empty() || ended_; });
  if (got_.empty()) return std::nullopt;
  v1::Delivery d = got_.front();
  got_.pop_front();
  return d;
}

void SubscriberThread::Stop() {
  if (!thread_.joinable()) return;
  ctx_.TryCancel();
  thread_.join();
}

grpc::Status Ack(v1::NotificationService::Stub& stub, const v1::Delivery& d) {
  grpc::ClientContext ctx;
  v1::AckRequest req;
  req.set_subscription(d.subscription());
  req.set_delivery_id(d.delivery_id());
  v1::AckResponse resp;
  return stub.Ack(&ctx, req, &resp);
}

grpc::Status Nack(v1::NotificationService::Stub& stub, const v1::Delivery& d, v1::BusError::Type type,
                  v1::NackResponse* out) {
  grpc::ClientContext ctx;
  v1::NackRequest req;
  req.set_subscription(d.subscription());
  req.set_delivery_id(d.delivery_id());
  req.set_error_type(type);
  req.set_error_message(type == v1::BusError::SOFTERROR ? "Google API Unavailable" : "account does not exist");
  (*req.mutable_error_debug()->mutable_fields())["attempt"].set_number_value(d.attempt());
  v1::NackResponse resp;
  grpc::Status s = stub.Nack(&ctx, req, &resp);
  if (out != nullptr) *out = resp;
  return s;
}

}  // namespace switchboard::testing
