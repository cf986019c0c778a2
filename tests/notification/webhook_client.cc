#include "tests/notification/webhook_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <google/protobuf/util/time_util.h>

#include "tests/core/test_support.h"
#include "tests/notification/bus_client.h"

namespace switchboard::testing {

v1::WebhookSubscription GappsWebhook(const std::string& url, const std::string& secret, int attempt_timeout_ms,
                                     int time_limit_s) {
  v1::WebhookSubscription w;
  w.set_url(url);
  w.add_bindings("request.gapps.#");
  w.set_secret(secret);
  *w.mutable_attempt_timeout() = google::protobuf::util::TimeUtil::MillisecondsToDuration(attempt_timeout_ms);
  w.mutable_time_limit()->set_seconds(time_limit_s);
  return w;
}

v1::WebhookSubscription CreateWebhookOk(v1::NotificationService::Stub& stub, const v1::WebhookSubscription& hook) {
  v1::CreateWebhookSubscriptionRequest req;
  req.set_request_id(NewRequestId());
  *req.mutable_webhook() = hook;
  return CallOk(stub, &v1::NotificationService::Stub::CreateWebhookSubscription, req);
}

v1::WebhookDelivery WaitForDelivery(
    v1::NotificationService::Stub& stub, const std::string& hook,
    const std::function<bool(const v1::ListDeliveriesResponse&, const v1::WebhookDelivery&)>& pick,
    const std::function<bool(const v1::WebhookDelivery&)>& done, int timeout_ms) {
  v1::WebhookDelivery last;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    grpc::ClientContext ctx;
    v1::ListDeliveriesRequest req;
    req.set_webhook(hook);
    v1::ListDeliveriesResponse resp;
    if (stub.ListDeliveries(&ctx, req, &resp).ok()) {
      for (const auto& d : resp.deliveries()) {
        if (!pick(resp, d)) continue;
        last = d;
        if (done(d)) return d;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  ADD_FAILURE() << "delivery did not reach the expected state; last: " << last.ShortDebugString();
  return last;
}

bool Final(const v1::WebhookDelivery& d) {
  return d.state() == v1::DELIVERED || d.state() == v1::DELIVERY_DEAD_LETTERED;
}

}  // namespace switchboard::testing
