#include "server/notification/webhook_attempt.h"

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "common/webhook_signature.h"

namespace switchboard::notification {
namespace {

using google::protobuf::util::TimeUtil;

bool Retryable(int status) { return status == 0 || status == 429 || status >= 500; }

}  // namespace

void PostDelivery(httpclient::AsyncClient& client, const v1::WebhookSubscription& hook, const v1::WebhookDelivery& d,
                  std::string body, int64_t start_us, const std::string& ca_file, PostDone done) {
  const int64_t ts = start_us / 1000000;
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/json"},
      {"X-Switchboard-Event", d.event_name()},
      {"X-Switchboard-Event-Id", d.event_uuid()},
      {"X-Switchboard-Delivery", d.name()},
      {kTimestampHeader, absl::StrCat(ts)},
      {kSignatureHeader, SignWebhook(hook.secret(), ts, body)}};
  HttpPost(client, hook.url(), std::move(headers), std::move(body),
           absl::Microseconds(TimeUtil::DurationToMicroseconds(hook.attempt_timeout())), ca_file, std::move(done));
}

absl::Duration Backoff(const RetryPolicy& policy, int attempts) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  absl::Duration d = policy.base;
  for (int i = 1; i < attempts && d < policy.max; ++i) d *= 2;
  d = std::min(d, policy.max);
  // "Equal jitter": half fixed, half random, so retries of many deliveries
  // spread out but never come back at once.
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return d * jitter(rng);
}

void ApplyAttempt(v1::WebhookDelivery* d, const v1::WebhookSubscription& hook, int64_t start_us,
                  const PostResult& result, const RetryPolicy& policy, int64_t now_us) {
  v1::DeliveryAttempt* attempt = d->add_attempts();
  *attempt->mutable_time() = TimeUtil::MicrosecondsToTimestamp(start_us);
  attempt->set_status_code(std::max(result.status_code, 0));
  *attempt->mutable_latency() = TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(result.latency));
  if (!result.error.empty()) attempt->set_error(result.error);

  const int64_t deadline =
      TimeUtil::TimestampToMicroseconds(d->create_time()) + TimeUtil::DurationToMicroseconds(hook.time_limit());
  if (result.status_code >= 200 && result.status_code < 300) {
    d->set_state(v1::DELIVERED);
    d->clear_next_attempt_time();
  } else if (Retryable(result.status_code)) {
    absl::Duration wait = result.retry_after_seconds >= 0 ? absl::Seconds(result.retry_after_seconds)
                                                          : Backoff(policy, d->attempts_size());
    const int64_t next = now_us + absl::ToInt64Microseconds(wait);
    if (next > deadline) {
      d->set_state(v1::DELIVERY_DEAD_LETTERED);
      d->clear_next_attempt_time();
      if (attempt->error().empty()) attempt->set_error("time limit reached; giving up");
    } else {
      d->set_state(v1::DELIVERY_RETRYING);
      *d->mutable_next_attempt_time() = TimeUtil::MicrosecondsToTimestamp(next);
    }
  } else {
    d->set_state(v1::DELIVERY_DEAD_LETTERED);
    d->clear_next_attempt_time();
    if (attempt->error().empty()) {
      attempt->set_error(absl::StrCat("HTTP ", result.status_code, " is permanent; not retried"));
    }
  }
}

}  // namespace switchboard::notification
