// sbctl app / bus subscribe / webhook against the real switchboardd: the
// commands a person uses to follow managed applications, consume durable
// bus subscriptions and manage webhooks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <signal.h>

#include <algorithm>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/clients/sbctl_harness.h"
#include "clients/lib/webhook_receiver.h"

namespace switchboard::testing {
namespace {

using client::WebhookReceiver;

using nlohmann::json;

const std::string kApps = std::string(SB_FIXTURES_DIR) + "/managedapp/";
const std::string kGorg = std::string(SB_FIXTURES_DIR) + "/gorg/";
constexpr char kAppId[] =
    "/subscriptions/5edeadbe-ef64-4022-a3aa-133bfef1d7a2/resourceGroups/apps-rg/providers/Microsoft.Solutions/"
    "applications/fish-analytics";

class SbctlNotification : public SbctlTest {};

TEST_F(SbctlNotification, AppRecordGetListAndDuplicate) {
  RunResult r = Ctl({"app", "record", "--file=" + kApps + "put-accepted.service-catalog.json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "recorded: applications/subscriptions/")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "is Accepted")) << r.out;

  r = Ctl({"app", "record", "--file=" + kApps + "put-succeeded.service-catalog.json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "is Succeeded")) << r.out;
  r = Ctl({"app", "record", "--file=" + kApps + "put-succeeded.service-catalog.json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "duplicate, nothing changed")) << r.out;

  // Get by the bare resource id; the history holds both notifications.
  r = Ctl({"app", "get", kAppId});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "state:       Succeeded")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "PUT Accepted at")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "PUT Succeeded at")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "applicationDefinitions/analytics-def")) << r.out;

  r = Ctl({"app", "get", kAppId, "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json app = json::parse(r.out);
  EXPECT_EQ(app["state"], "SUCCEEDED");
  EXPECT_EQ(app["history"].size(), 2u);

  r = Ctl({"app", "list", "--state=succeeded"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "fish-analytics")) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << "header and one row\n" << r.out;

  // A later PUT Failed (Marketplace fields) of the same application.
  ASSERT_EQ(Ctl({"app", "record", "--file=" + kApps + "put-failed.marketplace.json"}).exit_code, 0);
  r = Ctl({"app", "list", "--state=succeeded", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "");
  r = Ctl({"app", "list", "--state=Failed", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_EQ(json::parse(r.out)["state"], "FAILED");
  EXPECT_FALSE(json::parse(r.out)["plan"]["publisher"].get<std::string>().empty());
}

TEST_F(SbctlNotification, AppBadInputNamesTheFieldAndExitsTwo) {
  json bad = json::parse(ReadFile(kApps + "put-succeeded.service-catalog.json"));
  bad["provisioningState"] = "Deleted";
  std::string path = server_->dir().Write("bad.json", bad.dump());
  RunResult r = Ctl({"app", "record", "--file=" + path});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "provisioningState")) << r.err;

  r = Ctl({"app", "list", "--state=sleeping"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "--state")) << r.err;

  r = Ctl({"app", "get", "/subscriptions/x/resourceGroups/y/providers/Microsoft.Solutions/applications/none"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "NOT_FOUND")) << r.err;
}

TEST_F(SbctlNotification, SubscriptionQueuesAckNackDeadLetterReplayAndPurge) {
  // A missing subscription without --bind is an error that says what to do.
  RunResult r = Ctl({"bus", "subscribe", "audit_q", "--count=1"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "--bind")) << r.err;

  r = Ctl({"bus", "subscription", "create", "audit_q", "--bind=request.#,notify.gapps.*.*", "--app_id=auditd"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "created subscriptions/audit_q")) << r.out;
  // Published while nobody is connected: both wait on the queue.
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kGorg + "request.gapps.account.create.json"}).exit_code, 0);
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kGorg + "notify.gapps.account.updated.json"}).exit_code, 0);
  r = Ctl({"bus", "subscriptions", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(json::parse(r.out)["ready_count"], "2") << r.out;

  // In publish order: the request is acked, the notification nacked hard.
  r = Ctl({"bus", "subscribe", "audit_q", "--count=1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "request.gapps.account.create")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "acked")) << r.out;
  r = Ctl({"bus", "subscribe", "audit_q", "--count=1", "--nack=hard", "--message=account 12453 is unknown"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "notify.gapps.account.updated")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "dead-lettered")) << r.out;

  r = Ctl({"bus", "deadletters", "audit_q", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json dl = json::parse(r.out);
  std::string name = dl["name"];
  EXPECT_TRUE(absl::StartsWith(name, "subscriptions/audit_q/deadLetters/")) << name;
  r = Ctl({"bus", "deadletter", "get", name});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "account 12453 is unknown")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "harderror")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "auditd")) << "error_sender is the subscriber's app id\n" << r.out;

  // Replayed, it comes back with its error history; a hard nack again and a
  // purge empty the dead letters.
  r = Ctl({"bus", "deadletter", "replay", name});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Ctl({"bus", "subscribe", "audit_q", "--count=1", "--nack-hard", "--message", "still unknown", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json delivery = json::parse(r.out);
  EXPECT_EQ(delivery["envelope"]["event_name"], "notify.gapps.account.updated");
  EXPECT_EQ(delivery["envelope"]["errors"].size(), 1u) << r.out;
  r = Ctl({"bus", "deadletter", "purge", "audit_q"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "purged 1 dead letter")) << r.out;
  r = Ctl({"bus", "deadletters", "audit_q", "--json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "");

  EXPECT_EQ(Ctl({"bus", "subscribe", "audit_q", "--nack=sideways", "--count=1"}).exit_code, 2);
  EXPECT_EQ(Ctl({"bus", "subscribe", "audit_q", "--nack-soft", "--nack-hard", "--message=x"}).exit_code, 2);
  EXPECT_EQ(Ctl({"bus", "subscribe", "audit_q", "--nack=soft", "--count=1"}).exit_code, 2) << "--message missing";
  r = Ctl({"bus", "unsubscribe", "audit_q"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Ctl({"bus", "subscriptions", "--json"}).out, "");
}

TEST_F(SbctlNotification, SoftNackAppendsAnErrorAndSchedulesARedelivery) {
  ASSERT_EQ(Ctl({"bus", "subscription", "create", "gappsd_job_q", "--bind=request.gapps.#", "--retry_delay_ms=200"})
                .exit_code,
            0);
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kGorg + "request.gapps.account.create.json"}).exit_code, 0);
  RunResult r = Ctl({"bus", "subscribe", "gappsd_job_q", "--count=1", "--nack-soft", "--message=ldap is down"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "redelivery at")) << r.out;
  // The redelivery carries the soft error and the softfail-count.
  r = Ctl({"bus", "subscribe", "gappsd_job_q", "--count=1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json d = json::parse(r.out);
  EXPECT_EQ(d["softfail_count"], 1);
  EXPECT_EQ(d["attempt"], 2);
  // The fixture already carries one soft error; ours is appended.
  ASSERT_EQ(d["envelope"]["errors"].size(), 2u);
  EXPECT_EQ(d["envelope"]["errors_count"], 2);
  EXPECT_EQ(d["envelope"]["errors"][1]["error_message"], "ldap is down");
  EXPECT_EQ(d["envelope"]["errors"][1]["error_type"], "SOFTERROR");
  EXPECT_EQ(d["envelope"]["errors"][1]["error_sender"], "gappsd");
}

TEST_F(SbctlNotification, WebhookCreateDeliverListAndDelete) {
  WebhookReceiver receiver([](const WebhookReceiver::Request&) { return WebhookReceiver::Reply{}; });
  RunResult r = Ctl({"webhook", "create", "--url=" + receiver.url(), "--bind=notify.#"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "secret")) << r.err;

  std::string secret_file = server_->dir().Write("secret", "0123456789abcdef-webhook\n");
  r = Ctl({"webhook", "create", "--url=" + receiver.url(), "--bind=notify.#", "--secret_file=" + secret_file,
           "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::string hook = json::parse(r.out)["name"];
  // The environment works too, and the secret is never printed back.
  Subprocess::Options env = CleanEnv({{"SWITCHBOARD_WEBHOOK_SECRET", "another-secret-of-16+"}});
  r = Ctl({"webhook", "create", "--url=" + receiver.url() + "/second", "--bind=request.#"}, env);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Ctl({"webhook", "list"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, receiver.url() + "/second")) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "0123456789abcdef")) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "another-secret")) << r.out;

  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kGorg + "notify.gapps.account.updated.json"}).exit_code, 0);
  ASSERT_TRUE(receiver.WaitFor(1));
  auto got = receiver.received();
  EXPECT_TRUE(absl::StartsWith(got[0].headers["x-switchboard-signature"], "sha256=")) << got[0].body;
  EXPECT_EQ(json::parse(got[0].body)["event_name"], "notify.gapps.account.updated");

  // The delivery is listed as delivered once its attempt is recorded.
  bool delivered = false;
  for (int i = 0; i < 100 && !delivered; ++i) {
    r = Ctl({"webhook", "deliveries", hook, "--state=delivered"});
    delivered = r.exit_code == 0 && absl::StrContains(r.out, "notify.gapps.account.updated");
    if (!delivered) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(delivered) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "200")) << r.out;
  EXPECT_EQ(Ctl({"webhook", "deliveries", "--state=lost"}).exit_code, 2);

  r = Ctl({"webhook", "delete", hook});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Ctl({"webhook", "list", "--json"});
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

class SbctlWebhookRetry : public SbctlTest {
 protected:
  std::vector<std::string> ServerFlags() const override { return {"--webhook_retry_base_ms=50"}; }
};

TEST_F(SbctlWebhookRetry, ListenVerifiesSignaturesAndShowsTheRetriesAfterFailures) {
  std::string secret_file = server_->dir().Write("secret", "listen-secret-0123456789\n");
  const int port = FreePort();
  Subprocess listener;
  std::string error;
  ASSERT_TRUE(listener.Start({SBCTL_PATH, "webhook", "listen", "--port=" + std::to_string(port),
                              "--secret_file=" + secret_file, "--fail_first=2", "--count=1"},
                             CleanEnv(), &error))
      << error;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  RunResult r = Ctl({"webhook", "create", "--url=" + url, "--bind=notify.#", "--secret_file=" + secret_file, "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::string hook = json::parse(r.out)["name"];
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kGorg + "notify.gapps.account.updated.json"}).exit_code, 0);

  // Two 503s, then the retry is accepted and the listener exits.
  ASSERT_EQ(listener.Wait(30s), std::optional<int>(0));
  listener.ReadAll(5s);
  const std::string& out = listener.out();
  EXPECT_TRUE(absl::StrContains(out, "#1  notify.gapps.account.updated")) << out;
  EXPECT_TRUE(absl::StrContains(out, "signature ok  -> 503")) << out;
  EXPECT_TRUE(absl::StrContains(out, "#3  notify.gapps.account.updated  3f1e2d4c-5b6a-4978-8a1b-2c3d4e5f6a7b  "
                                     "signature ok  -> 200"))
      << out;

  bool delivered = false;
  for (int i = 0; i < 100 && !delivered; ++i) {
    r = Ctl({"webhook", "deliveries", hook, "--json"});
    delivered = r.exit_code == 0 && absl::StrContains(r.out, "\"DELIVERED\"");
    if (!delivered) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(delivered) << Describe(r);
  json d = json::parse(r.out);
  ASSERT_EQ(d["attempts"].size(), 3u) << r.out;
  EXPECT_EQ(d["attempts"][0]["status_code"], 503);
  EXPECT_EQ(d["attempts"][2]["status_code"], 200);
}

TEST(SbctlWebhookListen, RejectsAForgedSignature) {
  TempDir dir;
  std::string secret_file = dir.Write("secret", "listen-secret-0123456789");
  const int port = FreePort();
  Subprocess listener;
  std::string error;
  ASSERT_TRUE(listener.Start({SBCTL_PATH, "webhook", "listen", "--port=" + std::to_string(port),
                              "--secret_file=" + secret_file},
                             CleanEnv(), &error))
      << error;
  // A POST with a wrong signature, sent with curl as a forger would.
  RunResult r;
  for (int i = 0; i < 50; ++i) {
    r = RunCommand({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                    "-H", "X-Switchboard-Timestamp: " + std::to_string(time(nullptr)), "-H",
                    "X-Switchboard-Signature: sha256=00", "-d", "{}",
                    "http://127.0.0.1:" + std::to_string(port) + "/hook"},
                   CleanEnv(), 10s);
    if (r.out != "000") break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(r.out, "401") << Describe(r);
  listener.Signal(SIGTERM);
  listener.ReadAll(5s);
  EXPECT_TRUE(absl::StrContains(listener.out(), "REJECTED")) << listener.out();
}

// sbctl eventgrid listen plays the topic: it checks the topic key and
// prints each event of a POSTed array (README, "Try it").
TEST(SbctlEventGridListen, PrintsEachEventAndRefusesAWrongKey) {
  TempDir dir;
  std::string key_file = dir.Write("topic.key", "topic-key-0123456789\n");
  const int port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/events";
  Subprocess listener;
  std::string error;
  ASSERT_TRUE(listener.Start({SBCTL_PATH, "eventgrid", "listen", "--port=" + std::to_string(port),
                              "--key_file=" + key_file, "--count=2"},
                             CleanEnv(), &error))
      << error;
  auto post = [&](const std::string& key) {
    RunResult r;
    for (int i = 0; i < 50; ++i) {
      r = RunCommand({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "aeg-sas-key: " + key,
                      "-d",
                      R"([{"id":"a1","eventType":"response.acknowledge","subject":"/s/a1","data":{"operationContext":{"prodID":7}}},)"
                      R"({"id":"a2","eventType":"response.blob.metadata.success","subject":"/s/a2","data":{}}])",
                      url},
                     CleanEnv(), 10s);
      if (r.out != "000") break;
      std::this_thread::sleep_for(100ms);
    }
    return r;
  };
  RunResult wrong = post("not-the-key");
  EXPECT_EQ(wrong.out, "401") << Describe(wrong);
  RunResult right = post("topic-key-0123456789");
  EXPECT_EQ(right.out, "200") << Describe(right);
  listener.ReadAll(10s);  // --count=2: it exits after the two events
  EXPECT_TRUE(absl::StrContains(listener.out(), "REJECTED")) << listener.out();
  EXPECT_TRUE(absl::StrContains(listener.out(), "#1  response.acknowledge  /s/a1  operationContext {\"prodID\":7}"))
      << listener.out();
  EXPECT_TRUE(absl::StrContains(listener.out(), "#2  response.blob.metadata.success  /s/a2")) << listener.out();
}

// A listener on a port that is taken says so in one line and exits 1: no
// uncaught exception, no abort (exit 134).
TEST(SbctlListen, ABusyPortIsOneLineAndExitOne) {
  // Hold a port: bound and listening on 127.0.0.1:0.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string port = std::to_string(ntohs(a.sin_port));
  for (const std::string command : {"webhook", "eventgrid"}) {
    RunResult r = Sbctl({command, "listen", "--port=" + port, "--count=1"});
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_EQ(r.err, absl::StrCat("sbctl: ", command, " listen: cannot listen on 127.0.0.1:", port,
                                  ": address already in use (pick another --port, or 0 for a free one)\n"))
        << Describe(r);
    EXPECT_EQ(r.out, "") << Describe(r);
  }
  close(fd);
}

}  // namespace
}  // namespace switchboard::testing
