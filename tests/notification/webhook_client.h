#pragma once
// Test helpers for webhooks: a subscription to request.gapps.#, its
// creation, and polling its deliveries until one reaches a state.

#include <functional>
#include <string>

#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::testing {

// The webhook tests' signing secret.
inline constexpr char kSecret[] = "0123456789abcdef-secret";

// A webhook to `url` for request.gapps.#, signed with `secret`.
v1::WebhookSubscription GappsWebhook(const std::string& url, const std::string& secret, int attempt_timeout_ms,
                                     int time_limit_s);

// Creates `hook`; fails the test on error.
v1::WebhookSubscription CreateWebhookOk(v1::NotificationService::Stub& stub, const v1::WebhookSubscription& hook);

// Polls ListDeliveries of `hook` (every 30 ms, for `timeout_ms`) until
// `done` holds for a listed delivery that `pick(response, delivery)` keeps,
// and returns it; otherwise fails the test and returns the last one kept.
v1::WebhookDelivery WaitForDelivery(
    v1::NotificationService::Stub& stub, const std::string& hook,
    const std::function<bool(const v1::ListDeliveriesResponse&, const v1::WebhookDelivery&)>& pick,
    const std::function<bool(const v1::WebhookDelivery&)>& done, int timeout_ms);

// Delivered or dead-lettered: no attempt follows.
bool Final(const v1::WebhookDelivery& d);

}  // namespace switchboard::testing
