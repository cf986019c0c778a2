// Webhook delivery against real HTTP receivers on loopback: retries on 5xx,
// 429 with Retry-After, no retry on 400, a receiver that is down then up, a
// hanging receiver, the time limit, a restart with pending retries, the
// signature checked on the receiver's side, and webhook_workers as the most
// attempts at once over every webhook, none holding a thread.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "wire/gorg_envelope.h"
#include "common/webhook_signature.h"
#include "tests/core/test_support.h"
#include "clients/lib/webhook_receiver.h"
#include "server/http/admin_http.h"
#include "common/http/tls.h"
#include "tests/clients/subprocess.h"
#include "tests/notification/webhook_client.h"

namespace switchboard::testing {
namespace {

using client::WebhookReceiver;

using google::protobuf::util::TimeUtil;
using Reply = WebhookReceiver::Reply;

core::ServerConfig FastRetries() {
  core::ServerConfig c;
  c.webhook_retry_base_ms = 50;
  c.webhook_retry_max_ms = 200;
  return c;
}

std::string CreateWebhook(v1::NotificationService::Stub& stub, const std::string& url, int attempt_timeout_ms = 2000,
                          int time_limit_s = 60) {
  v1::WebhookSubscription out =
      CreateWebhookOk(stub, GappsWebhook(url, kSecret, attempt_timeout_ms, time_limit_s));
  EXPECT_TRUE(out.secret().empty()) << "the secret is write-only";
  return out.name();
}

// Polls ListDeliveries until `done` holds for the only delivery.
v1::WebhookDelivery WaitDelivery(v1::NotificationService::Stub& stub, const std::string& hook,
                                 const std::function<bool(const v1::WebhookDelivery&)>& done,
                                 int timeout_ms = 15000) {
  return WaitForDelivery(
      stub, hook,
      [](const v1::ListDeliveriesResponse& resp, const v1::WebhookDelivery&) { return resp.deliveries_size() == 1; },
      done, timeout_ms);
}

TEST(Webhooks, ServerErrorsAreRetriedThenDeliveredAndEverySignatureVerifies) {
  TempDir dir;
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  std::atomic<int> n{0};
  WebhookReceiver rx([&](const WebhookReceiver::Request&) { return Reply{++n <= 2 ? 500 : 200, {}, 0}; });
  std::string hook = CreateWebhook(*stub, rx.url());
  PublishOk(*stub, "wh-1");
  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  ASSERT_EQ(d.attempts_size(), 3);
  EXPECT_EQ(d.attempts(0).status_code(), 500);
  EXPECT_EQ(d.attempts(1).status_code(), 500);
  EXPECT_EQ(d.attempts(2).status_code(), 200);
  EXPECT_EQ(d.event_uuid(), "wh-1");

  auto got = rx.received();
  ASSERT_EQ(got.size(), 3u);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  for (const auto& r : got) {
    EXPECT_EQ(r.headers.at("x-switchboard-event-id"), "wh-1");
    EXPECT_TRUE(VerifyWebhook(kSecret, r.headers.at("x-switchboard-timestamp"),
                                            r.headers.at("x-switchboard-signature"), r.body, now)
                    .ok());
    auto env = wire::GorgEnvelopeFromJson(r.body);
    ASSERT_TRUE(env.ok()) << env.status();
    EXPECT_EQ(env->event_uuid(), "wh-1");
  }
  // A tampered body, a wrong secret and a replay a day later all fail.
  const auto& r = got[0];
  EXPECT_FALSE(VerifyWebhook(kSecret, r.headers.at("x-switchboard-timestamp"),
                                           r.headers.at("x-switchboard-signature"), r.body + " ", now)
                   .ok());
  EXPECT_FALSE(VerifyWebhook("another-secret-0000", r.headers.at("x-switchboard-timestamp"),
                                           r.headers.at("x-switchboard-signature"), r.body, now)
                   .ok());
  EXPECT_FALSE(VerifyWebhook(kSecret, r.headers.at("x-switchboard-timestamp"),
                                           r.headers.at("x-switchboard-signature"), r.body, now + 86400)
                   .ok());
}

TEST(Webhooks, TooManyRequestsHonoursRetryAfter) {
  TempDir dir;
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  std::atomic<int> n{0};
  WebhookReceiver rx([&](const WebhookReceiver::Request&) {
    if (++n == 1) return Reply{429, {{"Retry-After", "1"}}, 0};
    return Reply{200, {}, 0};
  });
  std::string hook = CreateWebhook(*stub, rx.url());
  PublishOk(*stub, "wh-429");
  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  ASSERT_EQ(d.attempts_size(), 2);
  EXPECT_EQ(d.attempts(0).status_code(), 429);
  const int64_t gap_ms = TimeUtil::TimestampToMilliseconds(d.attempts(1).time()) -
                         TimeUtil::TimestampToMilliseconds(d.attempts(0).time());
  // The backoff alone would be under 200 ms; Retry-After asked for 1 s.
  EXPECT_GE(gap_ms, 950) << "Retry-After was not honoured";
}

TEST(Webhooks, ClientErrorIsPermanentAndNotRetried) {
  TempDir dir;
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  WebhookReceiver rx([&](const WebhookReceiver::Request&) { return Reply{400, {}, 0}; });
  std::string hook = CreateWebhook(*stub, rx.url());
  PublishOk(*stub, "wh-400");
  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERY_DEAD_LETTERED);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(rx.received().size(), 1u) << "a 400 must not be retried";
  EXPECT_EQ(WaitDelivery(*stub, hook, Final).attempts_size(), 1);
}

TEST(Webhooks, ReceiverDownThenUpGetsTheDelivery) {
  TempDir dir;
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  int port = 0;
  {
    WebhookReceiver probe([](const WebhookReceiver::Request&) { return Reply{}; });
    port = probe.port();
  }  // now nothing listens there
  std::string hook = CreateWebhook(*stub, "http://127.0.0.1:" + std::to_string(port) + "/hook");
  PublishOk(*stub, "wh-down");
  auto failing = WaitDelivery(*stub, hook, [](const auto& d) { return d.attempts_size() >= 2; });
  EXPECT_EQ(failing.state(), v1::DELIVERY_RETRYING);
  EXPECT_EQ(failing.attempts(0).status_code(), 0);
  EXPECT_FALSE(failing.attempts(0).error().empty());
  WebhookReceiver rx([](const WebhookReceiver::Request&) { return Reply{200, {}, 0}; }, port);
  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  EXPECT_GE(rx.received().size(), 1u);
}

TEST(Webhooks, HangingReceiverTimesOutAndIsRetried) {
  TempDir dir;
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  std::atomic<int> n{0};
  WebhookReceiver rx([&](const WebhookReceiver::Request&) { return Reply{200, {}, ++n == 1 ? 5000 : 0}; });
  std::string hook = CreateWebhook(*stub, rx.url(), /*attempt_timeout_ms=*/300);
  PublishOk(*stub, "wh-hang");
  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  ASSERT_GE(d.attempts_size(), 2);
  EXPECT_EQ(d.attempts(0).status_code(), 0);
  EXPECT_LT(TimeUtil::DurationToMilliseconds(d.attempts(0).latency()), 2000) << "the attempt timeout was ignored";
}

TEST(Webhooks, TimeLimitDeadLettersAReceiverThatNeverRecovers) {
  TempDir dir;
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  WebhookReceiver rx([](const WebhookReceiver::Request&) { return Reply{503, {}, 0}; });
  std::string hook = CreateWebhook(*stub, rx.url(), 2000, /*time_limit_s=*/1);
  PublishOk(*stub, "wh-limit");
  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERY_DEAD_LETTERED);
  EXPECT_GE(d.attempts_size(), 2);
  EXPECT_EQ(d.attempts(d.attempts_size() - 1).status_code(), 503);
}

TEST(Webhooks, PendingRetriesCarryOnAfterARestart) {
  TempDir dir;
  int port = 0;
  {
    WebhookReceiver probe([](const WebhookReceiver::Request&) { return Reply{}; });
    port = probe.port();
  }
  std::string hook;
  {
    TestServer ts(dir.path(), FastRetries());
    auto stub = ts.Notification();
    hook = CreateWebhook(*stub, "http://127.0.0.1:" + std::to_string(port) + "/hook");
    PublishOk(*stub, "wh-restart");
    WaitDelivery(*stub, hook, [](const auto& d) { return d.attempts_size() >= 1; });
  }
  WebhookReceiver rx([](const WebhookReceiver::Request&) { return Reply{200, {}, 0}; }, port);
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  ASSERT_TRUE(rx.WaitFor(1));
  EXPECT_EQ(rx.received()[0].headers.at("x-switchboard-event-id"), "wh-restart");
}

// An https:// receiver is verified: with webhook_ca_file naming its CA the
// delivery arrives; without it no byte of the event is sent, and the attempt
// says why.
TEST(Webhooks, HttpsReceiversAreVerifiedAgainstTheConfiguredCa) {
  TempDir certs;
  auto made = MakeTestCertificate(certs.path());
  ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << made.result.err;
  auto tls = httpserver::TlsContext::Load(made.cert, made.key, "cert", "key");
  ASSERT_TRUE(tls.ok()) << tls.status();
  std::atomic<int> received{0};
  auto rx = http::AdminHttpServer::Start(
      "127.0.0.1:0",
      [&](const std::string& method, const std::string& path) {
        if (method == "POST" && path == "/hook") received.fetch_add(1);
        return http::Response{200, "text/plain; charset=utf-8", "ok\n"};
      },
      nullptr, *tls);
  ASSERT_TRUE(rx.ok()) << rx.status();
  const std::string url =
      "https://localhost:" + (*rx)->address().substr((*rx)->address().rfind(':') + 1) + "/hook";
  {
    TempDir dir;
    TestServer ts(dir.path(), FastRetries());  // no webhook_ca_file: the system's CAs do not know this one
    auto stub = ts.Notification();
    std::string hook = CreateWebhook(*stub, url, 2000, 1);
    PublishOk(*stub, "wh-tls-untrusted");
    auto d = WaitDelivery(*stub, hook, [](const v1::WebhookDelivery& d) { return d.attempts_size() > 0; });
    ASSERT_GT(d.attempts_size(), 0);
    EXPECT_EQ(d.attempts(0).status_code(), 0);
    EXPECT_FALSE(d.attempts(0).error().empty());
    EXPECT_EQ(received.load(), 0);
  }
  TempDir dir;
  core::ServerConfig c = FastRetries();
  c.webhook_ca_file = made.cert;
  TestServer ts(dir.path(), c);
  auto stub = ts.Notification();
  std::string hook = CreateWebhook(*stub, url);
  PublishOk(*stub, "wh-tls");
  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERED) << d.ShortDebugString();
  EXPECT_EQ(received.load(), 1);
}

TEST(Webhooks, WebhookWorkersCapsAttemptsAtOnceOverAllWebhooksAndNoneHoldsAPoolThread) {
  // 3 webhooks of 4 deliveries each may take 4 at once, but webhook_workers
  // allows 6 over all of them. The webhooks pool has min(4, 6) = 4 threads:
  // 6 attempts at once means none waits for its answer on one of them.
  TempDir dir;
  core::ServerConfig c = FastRetries();
  c.webhook_workers = 6;
  c.webhook_per_endpoint_in_flight = 4;
  TestServer ts(dir.path(), c);
  auto stub = ts.Notification();
  std::mutex mu;
  std::condition_variable cv;
  int now = 0;
  int most = 0;
  bool released = false;
  // Holds each request until 6 are held at once (or 1.5 s passed), then
  // answers every one at once.
  WebhookReceiver rx([&](const WebhookReceiver::Request&) {
    std::unique_lock<std::mutex> lock(mu);
    most = std::max(most, ++now);
    if (now >= 6) released = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::milliseconds(1500), [&] { return released; });
    --now;
    return Reply{200, {}, 0};
  });
  std::vector<std::string> hooks;
  for (int i = 0; i < 3; ++i) hooks.push_back(CreateWebhook(*stub, rx.url(), /*attempt_timeout_ms=*/5000));
  for (int i = 0; i < 4; ++i) PublishOk(*stub, absl::StrCat("wh-cap-", i));
  ASSERT_TRUE(rx.WaitFor(12, 15000)) << rx.received().size() << " of 12 deliveries arrived";
  for (const std::string& hook : hooks) {
    WaitForDelivery(
        *stub, hook, [](const v1::ListDeliveriesResponse& resp, const v1::WebhookDelivery&) {
          return resp.deliveries_size() == 4;
        },
        [](const v1::WebhookDelivery& d) { return d.state() == v1::DELIVERED; }, 15000);
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(most, 6) << "webhook_workers is the most attempts at once over every webhook";
  EXPECT_EQ(rx.received().size(), 12u) << "each delivery was attempted once";
}

TEST(Webhooks, BadUrlIsRejectedAndNothingIsStored) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  for (const char* url : {"ftp://example.invalid/hook", "127.0.0.1:9/hook", "http://", ""}) {
    grpc::ClientContext ctx;
    v1::CreateWebhookSubscriptionRequest req;
    req.set_request_id(NewRequestId());
    req.mutable_webhook()->set_url(url);
    req.mutable_webhook()->add_bindings("#");
    req.mutable_webhook()->set_secret(kSecret);
    v1::WebhookSubscription out;
    grpc::Status s = stub->CreateWebhookSubscription(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << url;
    EXPECT_NE(s.error_message().find("webhook.url"), std::string::npos) << s.error_message();
  }
  grpc::ClientContext ctx;
  v1::ListWebhookSubscriptionsResponse out;
  ASSERT_TRUE(stub->ListWebhookSubscriptions(&ctx, v1::ListWebhookSubscriptionsRequest(), &out).ok());
  EXPECT_EQ(out.webhooks_size(), 0);
}

}  // namespace
}  // namespace switchboard::testing
