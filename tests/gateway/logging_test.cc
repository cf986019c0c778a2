// Issue 20, finding 6: what the gateway logs about failures it used to
// keep silent: an unreachable Event Grid topic (with backoff, and a line
// when it is back) and failed authentication (without the secret).

#include <gtest/gtest.h>

#include <thread>

#include "gateway/eventgrid/outage_log.h"
#include "gateway/eventgrid/topic_client.h"
#include "gateway/gateway.h"
#include "tests/gateway/capture_server.h"
#include "tests/gateway/http_client.h"

namespace switchboard::gateway {
namespace {

using switchboard::testing::CaptureServer;
using switchboard::testing::HttpClient;

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(OutageLogTest, FirstFailureThenAtMostOncePerIntervalThenRecoveryWithTheCount) {
  eventgrid::OutageLog outage("event grid topic", std::chrono::milliseconds(300));
  ::testing::internal::CaptureStderr();
  outage.Succeeded();  // no outage: nothing
  for (int i = 0; i < 5; ++i) outage.Failed("HTTP 503: busy");
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  for (int i = 0; i < 5; ++i) outage.Failed("Couldn't connect to server");
  outage.Succeeded();
  outage.Succeeded();  // over already: nothing
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(Count(err, "\n"), 3) << err;
  EXPECT_EQ(Count(err, "\"msg\":\"event grid topic unreachable; retrying\""), 1) << err;
  EXPECT_EQ(Count(err, "\"msg\":\"event grid topic still unreachable; retrying\""), 1) << err;
  EXPECT_NE(err.find("\"failed_attempts\":6"), std::string::npos) << err;
  EXPECT_EQ(Count(err, "\"msg\":\"event grid topic reachable again\""), 1) << err;
  EXPECT_NE(err.find("\"failed_attempts\":10"), std::string::npos) << err;
}

TEST(OutageLogTest, TopicClientReportsEveryFailedAttemptAndTheRecovery) {
  CaptureServer topic;
  topic.FailNext(4, 503);
  eventgrid::TopicOptions o;
  o.url = topic.url();
  o.key = "topic-secret-key";
  o.initial_backoff = std::chrono::milliseconds(2);
  o.max_backoff = std::chrono::milliseconds(10);
  eventgrid::TopicClient client(o);
  eventgrid::OutageLog outage("event grid topic");  // one minute: no "still" line here
  ::testing::internal::CaptureStderr();
  auto s = client.Post("[]", std::chrono::steady_clock::now() + std::chrono::seconds(10), nullptr, nullptr, &outage);
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Count(err, "\n"), 2) << err;
  EXPECT_NE(err.find("\"msg\":\"event grid topic unreachable; retrying\""), std::string::npos) << err;
  EXPECT_NE(err.find("HTTP 503"), std::string::npos) << err;
  EXPECT_NE(err.find("\"msg\":\"event grid topic reachable again\""), std::string::npos) << err;
  EXPECT_NE(err.find("\"failed_attempts\":4"), std::string::npos) << err;
  EXPECT_EQ(err.find("topic-secret-key"), std::string::npos) << err;
}

TEST(AuthFailureLogTest, WrongKeysAreLoggedWithRemoteAndEndpointButNotTheSecret) {
  GatewayConfig c;
  c.server = "127.0.0.1:1";  // never called: authentication comes first
  c.http_address = "127.0.0.1:0";
  c.eventgrid_key = "the-real-eventgrid-key";
  c.managedapp_sig = "the-real-managedapp-sig";
  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();
  HttpClient client((*gw)->http_address());
  // One line a second per endpoint: the three kinds of refusal a second
  // apart, then a burst that is counted, not logged, in the next line.
  const auto second = std::chrono::milliseconds(1050);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(client.Post("/api/eventgrid", "[]", {{"aeg-sas-key", "guessed-key-1"}}).status, 401);
  std::this_thread::sleep_for(second);
  EXPECT_EQ(client.Post("/api/eventgrid?code=guessed-key-2", "[]").status, 401);
  std::this_thread::sleep_for(second);
  EXPECT_EQ(client.Post("/api/eventgrid", "[]").status, 401);
  EXPECT_EQ(client.Post("/resource?sig=guessed-sig-3", "{}").status, 401);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(client.Post("/api/eventgrid", "[]", {{"aeg-sas-key", "guessed-key-4"}}).status, 401);
  }
  std::this_thread::sleep_for(second);
  EXPECT_EQ(client.Post("/api/eventgrid", "[]", {{"aeg-sas-key", "guessed-key-5"}}).status, 401);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(Count(err, "\"msg\":\"authentication failed\""), 5) << err;
  EXPECT_EQ(Count(err, "\"endpoint\":\"POST /api/eventgrid\""), 4) << err;
  EXPECT_EQ(Count(err, "\"endpoint\":\"POST /resource\""), 1) << err;
  EXPECT_EQ(Count(err, "\"remote\":\"127.0.0.1:"), 5) << err;
  EXPECT_EQ(Count(err, "\"not_logged_since_last\":0"), 4) << err;
  EXPECT_EQ(Count(err, "\"not_logged_since_last\":20"), 1) << err;
  EXPECT_NE(err.find("aeg-sas-key header (wrong)"), std::string::npos) << err;
  EXPECT_NE(err.find("code parameter (wrong)"), std::string::npos) << err;
  EXPECT_NE(err.find("\"problem\":\"missing\""), std::string::npos) << err;
  for (const char* secret : {"guessed-key-1", "guessed-key-2", "guessed-sig-3", "guessed-key-4", "guessed-key-5",
                             "the-real-eventgrid-key",
                             "the-real-managedapp-sig"}) {
    EXPECT_EQ(err.find(secret), std::string::npos) << secret << " leaked: " << err;
  }
}

}  // namespace
}  // namespace switchboard::gateway
