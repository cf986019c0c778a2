#pragma once
// One attempt of a webhook delivery, free of the store and of threads: the
// signed POST (started, not waited for), and what its answer does to the
// delivery record. The policy (seed 002's, applied outward): 2xx delivers;
// >=500, 429, timeouts and unreachable hosts retry with exponential backoff
// and jitter (Retry-After wins when sent) until the webhook's time limit,
// then dead-letter; any other answer dead-letters at once.

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "server/notification/http_post.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::notification {

// Starts the POST of `body` (the event's Gorg JSON) for delivery `d` to
// `hook`'s URL on `client`, signed with its secret
// (common/webhook_signature.h) at `start_us`; `done` runs on the client's
// loop thread (http_post.h).
void PostDelivery(httpclient::AsyncClient& client, const v1::WebhookSubscription& hook, const v1::WebhookDelivery& d,
                  std::string body, int64_t start_us, const std::string& ca_file, PostDone done);

struct RetryPolicy {
  // Backoff before retry n is about base * 2^(n-1), capped at max, with
  // "equal jitter" (between half and all of it).
  absl::Duration base = absl::Seconds(1);
  absl::Duration max = absl::Minutes(10);
};
absl::Duration Backoff(const RetryPolicy& policy, int attempts);

// Appends the attempt that started at `start_us` and got `result` to `d`,
// and moves `d` on at `now_us`: DELIVERED, RETRYING with its
// next_attempt_time, or DELIVERY_DEAD_LETTERED. A status_code of -1 with an
// error is an attempt that could not be made (dead-lettered).
void ApplyAttempt(v1::WebhookDelivery* d, const v1::WebhookSubscription& hook, int64_t start_us,
                  const PostResult& result, const RetryPolicy& policy, int64_t now_us);

}  // namespace switchboard::notification
