// Several switchboardd replicas on one PostgreSQL database (docs/scale-out.md),
// in process, through real gRPC: writes on any replica land in one gap-free
// log that every replica's watchers see in order, and a repeat on another
// replica gets the first answer; a run submitted on one replica and
// approved on another goes on; managed-app notifications recorded at once
// on three replicas keep every history entry; a bus subscription or a
// webhook made on one replica takes the publishes of another, and any
// replica delivers, answers and ends its streams. Needs SWITCHBOARD_TEST_PG_URL and Azurite
// (tools/services.sh); fails, never skips, without them.

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <chrono>
#include <set>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tests/core/test_support.h"
#include "clients/lib/webhook_receiver.h"
#include "tests/notification/app_fixtures.h"
#include "tests/notification/bus_client.h"
#include "tests/notification/counting_receiver.h"
#include "tests/notification/webhook_client.h"
#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Runs a shell command; fails the test when it does.
void Sh(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

class Replicas : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Env("SWITCHBOARD_TEST_PG_URL").empty())
        << "SWITCHBOARD_TEST_PG_URL is not set: run through tools/test.sh, or tools/services.sh start and "
           "eval \"$(tools/services.sh env)\"";
    ASSERT_FALSE(Env("SWITCHBOARD_TEST_AZURITE_BLOB").empty()) << "SWITCHBOARD_TEST_AZURITE_BLOB is not set";
    // Real remotes outside every replica's data dir: bare repositories.
    const std::string r = dir_.path() + "/remotes";
    Sh(absl::StrCat("set -e; mkdir -p ", r, "; git init -q --bare -b main ", r, "/infra.git; git init -q --bare -b main ",
                    r, "/modules.git; w=$(mktemp -d); git -C $w init -q -b main; echo '# infra' > $w/README.md; ",
                    "git -C $w add -A; git -C $w -c user.name=t -c user.email=t@localhost commit -q -m init; ",
                    "git -C $w push -q ", r, "/infra.git main; rm -rf $w; m=$(mktemp -d); cp -r ", SB_EXAMPLES_MODULES_DIR,
                    "/. $m; git -C $m init -q -b main; git -C $m add -A; ",
                    "git -C $m -c user.name=t -c user.email=t@localhost commit -q -m modules; git -C $m push -q ", r,
                    "/modules.git main; rm -rf $m"));
    config_.store = Env("SWITCHBOARD_TEST_PG_URL");
    static std::atomic<int> n{0};
    config_.store_schema = absl::StrCat("replicas_", getpid(), "_", n.fetch_add(1), "_", std::time(nullptr) % 100000);
    ASSERT_TRUE(core::MergeConfigJson(absl::StrCat(R"({"resourcing": {"infra_url": "file://)", r,
                                                   R"(/infra.git", "modules_url": "file://)", r,
                                                   R"(/modules.git"}, "media": {"local_accounts": [], "azure_accounts": [
                                                   {"name": ")",
                                                   Env("SWITCHBOARD_TEST_AZURITE_ACCOUNT"), R"(", "endpoint": ")",
                                                   Env("SWITCHBOARD_TEST_AZURITE_BLOB"), R"(", "key1": ")",
                                                   Env("SWITCHBOARD_TEST_AZURITE_KEY"), R"("}]}})"),
                                      &config_)
                    .ok());
  }

  std::unique_ptr<TestServer> StartReplica(const std::string& name) {
    return std::make_unique<TestServer>(dir_.path() + "/" + name, config_);
  }

  // Every notification event a fresh watch on `server` sees, from the start
  // of the log, until it has `count` of them.
  static std::vector<int64_t> WatchSequences(TestServer& server, size_t count) {
    auto stub = server.Notification();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WatchEventsRequest req;
    req.set_after_sequence(0);
    auto reader = stub->WatchEvents(&ctx, req);
    std::vector<int64_t> seqs;
    v1::NotificationEvent ev;
    while (seqs.size() < count && reader->Read(&ev)) seqs.push_back(ev.sequence());
    ctx.TryCancel();
    reader->Finish();
    return seqs;
  }

  // The owner of the status bridge's cursor job, as committed.
  std::string BridgeOwner() { return JobOwner("status_bridge.cursor"); }
  // The owner of the running job of `kind` (a kind with one job), as
  // committed; empty when none runs.
  std::string JobOwner(const std::string& kind) {
    PGconn* c = PQconnectdb(config_.store.c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    const std::string sql = absl::StrCat("SELECT convert_from(owner, 'UTF8') FROM ", config_.store_schema,
                                         ".jobs WHERE kind='", kind, "' AND state=1");
    PGresult* r = PQexec(c, sql.c_str());
    std::string owner = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    PQfinish(c);
    return owner;
  }
  // How many jobs of `kind` are not finished, as committed.
  int UnfinishedJobs(const std::string& kind) {
    PGconn* c = PQconnectdb(config_.store.c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    const std::string sql = absl::StrCat("SELECT count(*) FROM ", config_.store_schema, ".jobs WHERE kind='", kind,
                                         "' AND state < 2");
    PGresult* r = PQexec(c, sql.c_str());
    int n = PQresultStatus(r) == PGRES_TUPLES_OK ? std::atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
  }
  std::string InstanceOf(const std::string& name) {
    std::string id;
    std::ifstream(dir_.path() + "/" + name + "/instance") >> id;
    return id;
  }

  TempDir dir_;
  core::ServerConfig config_;
};

TEST_F(Replicas, APublishOnOneReplicaIsSeenOnTheOtherAndARepeatThereReplaysIt) {
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  auto stub_a = a->Notification();
  auto stub_b = b->Notification();
  const int64_t first = PublishOk(*stub_a, "11111111-1111-4111-8111-111111111111");
  ASSERT_GT(first, 0);
  // The same event_uuid on the other replica: the first answer, not a second event.
  EXPECT_EQ(PublishOk(*stub_b, "11111111-1111-4111-8111-111111111111"), first);
  const int64_t second = PublishOk(*stub_b, "22222222-2222-4222-8222-222222222222");
  EXPECT_GT(second, first);
  std::vector<int64_t> on_a = WatchSequences(*a, 2);
  std::vector<int64_t> on_b = WatchSequences(*b, 2);
  ASSERT_EQ(on_a.size(), 2u);
  EXPECT_EQ(on_a, on_b);
  EXPECT_EQ(on_a.back(), second);
}

TEST_F(Replicas, ConcurrentPublishesOnThreeReplicasMakeOneGapFreeLogEveryReplicaSeesInOrder) {
  config_.bus_status_events = 0;  // only the publishes in the log
  std::vector<std::unique_ptr<TestServer>> replicas;
  for (const char* name : {"r1", "r2", "r3"}) replicas.push_back(StartReplica(name));
  constexpr int kPerThread = 60;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auto stub = replicas[static_cast<size_t>(t) % replicas.size()]->Notification();
      for (int i = 0; i < kPerThread; ++i) {
        char uuid[40];
        std::snprintf(uuid, sizeof uuid, "%08d-0000-4000-8000-%012d", t, i);
        if (PublishOk(*stub, uuid) <= 0) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  const size_t total = 6 * kPerThread;
  std::vector<int64_t> want;
  for (size_t i = 1; i <= total; ++i) want.push_back(static_cast<int64_t>(i));
  for (auto& r : replicas) {
    EXPECT_EQ(WatchSequences(*r, total), want) << "every replica sees 1..N once, in order";
  }
}

TEST_F(Replicas, TheStatusBridgeRunsOnOneReplicaAndAnotherTakesOverWhenItStops) {
  auto a = StartReplica("a");
  auto b = StartReplica("b");  // starts although a holds the bridge: it stands by
  EXPECT_EQ(BridgeOwner().rfind(InstanceOf("a") + "/", 0), 0u) << BridgeOwner();
  a->Shutdown();  // hands the cursor job back
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && BridgeOwner().rfind(InstanceOf("b") + "/", 0) != 0) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(BridgeOwner().rfind(InstanceOf("b") + "/", 0), 0u) << "b took the bridge over: " << BridgeOwner();
}

// The status bridge publishes a status change only when a route wants its
// routing key, and asks its own replica. A webhook made on another replica
// counts there within the keeper's tick (1 s), though that replica has
// published nothing since: the change reaches the webhook.
TEST_F(Replicas, AStatusChangeReachesAWebhookMadeOnAReplicaThatDoesNotRunTheBridge) {
  config_.webhook_retry_base_ms = 50;
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  ASSERT_EQ(BridgeOwner().rfind(InstanceOf("a") + "/", 0), 0u) << "a runs the bridge: " << BridgeOwner();
  auto sb = b->Notification();
  client::WebhookReceiver rx([](const client::WebhookReceiver::Request&) {
    return client::WebhookReceiver::Reply{200, {}, 0};
  });
  v1::WebhookSubscription spec = GappsWebhook(rx.url(), kSecret, 2000, 60);
  spec.clear_bindings();
  spec.add_bindings("notify.managedapp.#");
  const std::string hook = CreateWebhookOk(*sb, spec).name();
  // Nothing is published anywhere meanwhile: nothing but a's keeper tells a.
  absl::SleepFor(absl::Milliseconds(2500));
  RecordOk(*sb, "put-accepted.service-catalog.json");
  auto d = WaitForDelivery(
      *sb, hook, [](const v1::ListDeliveriesResponse&, const v1::WebhookDelivery&) { return true; }, Final, 15000);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  EXPECT_EQ(d.event_name(), "notify.managedapp.put.accepted");
  ASSERT_EQ(rx.received().size(), 1u);
  EXPECT_EQ(rx.received()[0].headers.at("x-switchboard-event"), "notify.managedapp.put.accepted");
}

TEST_F(Replicas, ARunSubmittedOnOneReplicaAndApprovedOnAnotherGoesOnToSucceed) {
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  auto on_a = v1::ResourcingService::NewStub(a->Channel());
  auto on_b = v1::ResourcingService::NewStub(b->Channel());
  v1::Run run;
  {
    grpc::ClientContext ctx;
    grpc::Status s = on_a->SubmitRun(&ctx, FishRequest("replicas-run-1"), &run);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // a holds the run's job while it waits for the approval.
  ASSERT_TRUE(WaitFor([&] { return GetRunOrDie(*on_a, run.name()).state() == v1::Run::AWAITING_APPROVAL; }))
      << GetRunOrDie(*on_a, run.name()).DebugString();
  run = GetRunOrDie(*on_b, run.name());
  ASSERT_FALSE(run.pull_request().empty());
  {
    grpc::ClientContext ctx;
    v1::ApprovePullRequestRequest req;
    req.set_request_id("replicas-approve-1");
    req.set_name(run.pull_request());
    v1::PullRequest pr;
    grpc::Status s = on_b->ApprovePullRequest(&ctx, req, &pr);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(pr.state(), v1::PullRequest::MERGED);
  }
  // Approved on b: the run goes on (b wakes its job; a lets go), well
  // before a's lease would have run out.
  ASSERT_TRUE(WaitFor([&] { return GetRunOrDie(*on_a, run.name()).state() == v1::Run::SUCCEEDED; }, 8))
      << GetRunOrDie(*on_a, run.name()).DebugString();
  EXPECT_EQ(GetWorkspaceOrDie(*on_b, "workspaces/FISH").status(), v1::COMPLETED);
  // Its job ends with it, whichever replica ran the rest.
  EXPECT_TRUE(WaitFor([&] { return UnfinishedJobs("resourcing.run") == 0; }, 8)) << UnfinishedJobs("resourcing.run");
}

TEST_F(Replicas, ManagedAppNotificationsRecordedAtOnceOnThreeReplicasLoseNoHistory) {
  config_.bus_status_events = 0;
  std::vector<std::unique_ptr<TestServer>> replicas;
  for (const char* name : {"r1", "r2", "r3"}) replicas.push_back(StartReplica(name));
  const std::vector<std::string> files = {"put-accepted.service-catalog.json", "put-succeeded.service-catalog.json",
                                          "put-failed.marketplace.json",       "patch-succeeded.json",
                                          "delete-deleting.json",              "delete-deleted.json"};
  // All six at once, two per replica: each is a read-modify-write of one
  // application record, so a lost update would drop history entries.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (size_t i = 0; i < files.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stub = replicas[i % replicas.size()]->Notification();
      grpc::ClientContext ctx;
      v1::RecordManagedAppNotificationRequest req;
      req.set_request_id(absl::StrCat("replicas-app-", i));
      *req.mutable_notification() = AppFixture(files[i]);
      v1::RecordManagedAppNotificationResponse resp;
      grpc::Status s = stub->RecordManagedAppNotification(&ctx, req, &resp);
      if (!s.ok()) {
        ADD_FAILURE() << files[i] << ": " << s.error_message();
        failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  for (auto& r : replicas) {
    auto stub = r->Notification();
    grpc::ClientContext ctx;
    v1::ListApplicationsResponse apps;
    ASSERT_TRUE(stub->ListApplications(&ctx, v1::ListApplicationsRequest(), &apps).ok());
    ASSERT_EQ(apps.applications_size(), 1);
    EXPECT_EQ(apps.applications(0).history_size(), 6) << "every replica reads all six notifications";
    EXPECT_EQ(apps.applications(0).state(), v1::Application::DELETED) << "the newest eventTime wins";
  }
}

TEST_F(Replicas, OneReplicaLeadsAndAnotherTakesOverWhenItStops) {
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  auto leader = [&] { return JobOwner("switchboard.leader"); };
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && leader().empty()) absl::SleepFor(absl::Milliseconds(100));
  const std::string first = leader();
  ASSERT_FALSE(first.empty()) << "no replica leads";
  const bool a_led = first.rfind(InstanceOf("a") + "/", 0) == 0;
  EXPECT_TRUE(a_led || first.rfind(InstanceOf("b") + "/", 0) == 0) << first;
  (a_led ? a : b)->Shutdown();  // hands the lease back
  const std::string next = InstanceOf(a_led ? "b" : "a") + "/";
  deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && leader().rfind(next, 0) != 0) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(leader().rfind(next, 0), 0u) << "the other replica leads: " << leader();
}


// The publish that follows on another replica must find it: the routes
// version moved, so that replica reloads its routes in the publish.
TEST_F(Replicas, ASubscriptionMadeOnOneReplicaTakesAnotherReplicasPublishesAndAnyReplicaDeliversAndAnswers) {
  config_.bus_status_events = 0;
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  auto c = StartReplica("c");
  auto sa = a->Notification();
  auto sb = b->Notification();
  auto sc = c->Notification();
  // b routes a publish first, so its routes are loaded from before the subscription.
  PublishOk(*sb, "00000000-0000-4000-8000-000000000001");
  CreateSubscriptionOk(*sa, "xrep_job_q", "request.gapps.#", /*retry_delay_ms=*/100, /*max_attempts=*/5);
  v1::PublishRequest req;
  *req.mutable_envelope() = Envelope("00000000-0000-4000-8000-000000000002");
  v1::PublishResponse published = CallOk(*sb, &v1::NotificationService::Stub::Publish, req);
  EXPECT_EQ(published.matched_subscriptions(), 1) << "the replica that did not make the subscription missed it";

  SubscriberThread on_c(*sc, "xrep_job_q");
  auto first = on_c.Next();
  ASSERT_TRUE(first.has_value()) << "a stream on a third replica got nothing";
  EXPECT_EQ(first->envelope().event_uuid(), "00000000-0000-4000-8000-000000000002");
  EXPECT_EQ(first->attempt(), 1);
  // A soft error answered on another replica than the stream's: back after the retry delay.
  v1::NackResponse nacked;
  ASSERT_TRUE(Nack(*sa, *first, v1::BusError::SOFTERROR, &nacked).ok());
  EXPECT_FALSE(nacked.dead_lettered());
  auto second = on_c.Next();
  ASSERT_TRUE(second.has_value()) << "the nacked message never came back";
  EXPECT_EQ(second->envelope().event_uuid(), first->envelope().event_uuid());
  EXPECT_EQ(second->attempt(), 2);
  EXPECT_EQ(second->softfail_count(), 1);
  EXPECT_EQ(second->envelope().errors_size(), 1);
  EXPECT_EQ(Ack(*sa, *first).error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "the older delivery was answered";
  EXPECT_TRUE(Ack(*sb, *second).ok());
  EXPECT_EQ(Ack(*sc, *second).error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "acked twice";
  v1::GetSubscriptionRequest get;
  get.set_name("subscriptions/xrep_job_q");
  v1::Subscription sub = CallOk(*sb, &v1::NotificationService::Stub::GetSubscription, get);
  EXPECT_EQ(sub.ready_count(), 0);
  EXPECT_EQ(sub.in_flight_count(), 0);

  // Deleted on b: the stream on c ends, and a publish on a goes nowhere.
  v1::DeleteSubscriptionRequest del;
  del.set_name("subscriptions/xrep_job_q");
  del.set_request_id("delete-xrep");
  CallOk(*sb, &v1::NotificationService::Stub::DeleteSubscription, del);
  EXPECT_FALSE(on_c.Next(5000).has_value());
  EXPECT_EQ(on_c.status().error_code(), grpc::StatusCode::NOT_FOUND) << on_c.status().error_message();
  *req.mutable_envelope() = Envelope("00000000-0000-4000-8000-000000000003");
  EXPECT_EQ(CallOk(*sa, &v1::NotificationService::Stub::Publish, req).matched_subscriptions(), 0);
}

TEST_F(Replicas, AWebhookMadeOnOneReplicaGetsAnotherReplicasPublishes) {
  config_.bus_status_events = 0;
  config_.webhook_retry_base_ms = 50;
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  auto sa = a->Notification();
  auto sb = b->Notification();
  PublishOk(*sb, "00000000-0000-4000-8000-000000000011");  // b's routes loaded before the webhook
  client::WebhookReceiver rx([](const client::WebhookReceiver::Request&) {
    return client::WebhookReceiver::Reply{200, {}, 0};
  });
  const std::string hook = CreateWebhookOk(*sa, GappsWebhook(rx.url(), kSecret, 2000, 60)).name();
  // b answers for it too, before any publish there.
  v1::GetWebhookSubscriptionRequest get;
  get.set_name(hook);
  CallOk(*sb, &v1::NotificationService::Stub::GetWebhookSubscription, get);
  v1::PublishRequest req;
  *req.mutable_envelope() = Envelope("00000000-0000-4000-8000-000000000012");
  EXPECT_EQ(CallOk(*sb, &v1::NotificationService::Stub::Publish, req).matched_subscriptions(), 1);
  auto d = WaitForDelivery(
      *sb, hook, [](const v1::ListDeliveriesResponse&, const v1::WebhookDelivery&) { return true; }, Final, 15000);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  ASSERT_EQ(rx.received().size(), 1u);
  EXPECT_EQ(rx.received()[0].headers.at("x-switchboard-event-id"), "00000000-0000-4000-8000-000000000012");
}



std::string EventId(int i) { return absl::StrFormat("00000000-0000-4000-8000-%012d", 1000 + i); }

// How many of `hook`'s deliveries are DELIVERED, as `stub`'s replica lists them.
int Delivered(v1::NotificationService::Stub& stub, const std::string& hook) {
  int n = 0;
  v1::ListDeliveriesRequest req;
  req.set_webhook(hook);
  req.set_page_size(1000);
  for (;;) {
    v1::ListDeliveriesResponse resp = CallOk(stub, &v1::NotificationService::Stub::ListDeliveries, req);
    for (const auto& d : resp.deliveries()) n += d.state() == v1::DELIVERED ? 1 : 0;
    if (resp.next_page_token().empty()) return n;
    req.set_page_token(resp.next_page_token());
  }
}

// Issue 22: one lease per webhook owns its in-flight cap. Publishes on all
// three replicas make deliveries for one webhook; one replica holds its
// owner lease and makes every attempt, so the receiver never sees more
// than webhook_per_endpoint_in_flight at once (each replica alone would
// allow that many: three times the cap without the lease).
TEST_F(Replicas, AWebhooksInFlightCapHoldsAcrossThreeReplicas) {
  config_.bus_status_events = 0;
  config_.webhook_per_endpoint_in_flight = 2;
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  auto c = StartReplica("c");
  CountingReceiver rx(/*hold_ms=*/60);
  auto sa = a->Notification();
  const std::string hook = CreateWebhookOk(*sa, GappsWebhook(rx.url(), kSecret, 5000, 600)).name();
  constexpr int kPerReplica = 30;
  std::vector<std::thread> publishers;
  int k = 0;
  for (TestServer* r : {a.get(), b.get(), c.get()}) {
    publishers.emplace_back([r, first = k] {
      auto stub = r->Notification();
      for (int i = 0; i < kPerReplica; ++i) PublishOk(*stub, EventId(first + i));
    });
    k += kPerReplica;
  }
  for (auto& t : publishers) t.join();
  EXPECT_TRUE(rx.WaitForDistinct(3 * kPerReplica, absl::Seconds(60)))
      << "got " << rx.distinct() << " of " << 3 * kPerReplica;
  EXPECT_LE(rx.max_in_flight(), 2) << "more attempts at once than the cap";
  EXPECT_EQ(rx.max_in_flight(), 2) << "the cap was never reached: the test shows nothing";
  EXPECT_EQ(UnfinishedJobs("webhook.owner"), 1);
  const std::string owner = JobOwner("webhook.owner");
  EXPECT_FALSE(owner.empty()) << "nobody holds the owner lease";
  auto sc = c->Notification();
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Delivered(*sc, hook) < 3 * kPerReplica && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(Delivered(*sc, hook), 3 * kPerReplica);
}

// The owner's replica closes while deliveries are pending: it hands the
// lease (and what it claimed) back, another replica takes it and delivers
// the rest, nothing lost; the cap still holds.
TEST_F(Replicas, AWebhooksOwnerLeaseMovesWhenItsReplicaClosesAndNothingIsLost) {
  config_.bus_status_events = 0;
  config_.webhook_per_endpoint_in_flight = 2;
  std::vector<std::unique_ptr<TestServer>> rs;
  for (const char* n : {"a", "b", "c"}) rs.push_back(StartReplica(n));
  CountingReceiver rx(/*hold_ms=*/100);
  auto s0 = rs[0]->Notification();
  const std::string hook = CreateWebhookOk(*s0, GappsWebhook(rx.url(), kSecret, 5000, 600)).name();
  constexpr int kEvents = 60;
  for (int i = 0; i < kEvents; ++i) {
    auto stub = rs[i % 3]->Notification();
    PublishOk(*stub, EventId(i));
  }
  ASSERT_TRUE(rx.WaitForDistinct(6, absl::Seconds(20))) << "no deliveries began";
  const std::string owner = JobOwner("webhook.owner");
  int owning = -1;
  for (int i = 0; i < 3; ++i) {
    if (owner.rfind(InstanceOf(std::string(1, static_cast<char>('a' + i))) + "/", 0) == 0) owning = i;
  }
  ASSERT_GE(owning, 0) << "the owner lease is held by none of the replicas: " << owner;
  const size_t before = rx.distinct();
  rs[owning]->Shutdown();
  rs[owning].reset();
  EXPECT_LT(before, static_cast<size_t>(kEvents)) << "everything was delivered before the close: the test shows nothing";
  // Publishes after the close, on a survivor.
  auto survivor = rs[(owning + 1) % 3]->Notification();
  for (int i = kEvents; i < kEvents + 10; ++i) PublishOk(*survivor, EventId(i));
  EXPECT_TRUE(rx.WaitForDistinct(kEvents + 10, absl::Seconds(30)))
      << "got " << rx.distinct() << " of " << kEvents + 10;
  const std::string next = JobOwner("webhook.owner");
  EXPECT_FALSE(next.empty());
  EXPECT_NE(next.rfind(InstanceOf(std::string(1, static_cast<char>('a' + owning))) + "/", 0), 0u)
      << "the closed replica still holds it: " << next;
  EXPECT_LE(rx.max_in_flight(), 2);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Delivered(*survivor, hook) < kEvents + 10 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(Delivered(*survivor, hook), kEvents + 10);
}


// Owner leases spread: a replica alone holds every webhook's lease; once two
// more replicas join, it hands back what is above its share (after the
// grace of twice the 10 s lease) and each replica holds two of the six;
// every webhook still gets its deliveries.
TEST_F(Replicas, WebhookOwnerLeasesEvenOutWhenReplicasJoin) {
  config_.bus_status_events = 0;
  auto a = StartReplica("a");
  CountingReceiver rx(/*hold_ms=*/0);
  auto sa = a->Notification();
  constexpr int kHooks = 6;
  for (int i = 0; i < kHooks; ++i) CreateWebhookOk(*sa, GappsWebhook(rx.url(), kSecret, 5000, 600));
  // By replica name, how many owner leases each holds.
  auto held = [&] {
    std::map<std::string, int> n;
    PGconn* conn = PQconnectdb(config_.store.c_str());
    EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
    const std::string sql = absl::StrCat("SELECT convert_from(owner, 'UTF8') FROM ", config_.store_schema,
                                         ".jobs WHERE kind='webhook.owner' AND state=1");
    PGresult* r = PQexec(conn, sql.c_str());
    for (int row = 0; PQresultStatus(r) == PGRES_TUPLES_OK && row < PQntuples(r); ++row) {
      const std::string owner = PQgetvalue(r, row, 0);
      for (const char* name : {"a", "b", "c"}) {
        if (owner.rfind(InstanceOf(name) + "/", 0) == 0) ++n[name];
      }
    }
    PQclear(r);
    PQfinish(conn);
    return n;
  };
  auto wait_for = [&](const std::map<std::string, int>& want, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (held() != want && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(200));
    return held();
  };
  EXPECT_EQ(wait_for({{"a", kHooks}}, absl::Seconds(10)), (std::map<std::string, int>{{"a", kHooks}}));
  auto b = StartReplica("b");
  auto c = StartReplica("c");
  const std::map<std::string, int> even{{"a", 2}, {"b", 2}, {"c", 2}};
  EXPECT_EQ(wait_for(even, absl::Seconds(45)), even) << "the leases did not even out";
  auto sc = c->Notification();
  PublishOk(*sc, EventId(900));
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (rx.requests() < kHooks && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(rx.requests(), kHooks) << "each webhook gets the event once";
}


// The owner follows the log: a publish on another replica reaches the
// receiver without waiting for the owner's 1 s poll (median well under it).
TEST_F(Replicas, AWebhooksOwnerClaimsWhatAnotherReplicaPublishesAtOnce) {
  config_.bus_status_events = 0;
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  CountingReceiver rx(/*hold_ms=*/0);
  auto sa = a->Notification();
  CreateWebhookOk(*sa, GappsWebhook(rx.url(), kSecret, 5000, 600));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (JobOwner("webhook.owner").empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  const std::string owner = JobOwner("webhook.owner");
  ASSERT_FALSE(owner.empty()) << "nobody took the owner lease";
  TestServer* other = owner.rfind(InstanceOf("a") + "/", 0) == 0 ? b.get() : a.get();
  auto stub = other->Notification();
  std::vector<absl::Duration> took;
  for (int i = 0; i < 9; ++i) {
    const absl::Time t0 = absl::Now();
    PublishOk(*stub, EventId(700 + i));
    ASSERT_TRUE(rx.WaitForDistinct(i + 1, absl::Seconds(5))) << "event " << i << " never arrived";
    took.push_back(absl::Now() - t0);
    absl::SleepFor(absl::Milliseconds(137));  // off the poll's beat
  }
  std::sort(took.begin(), took.end());
  EXPECT_LT(took[took.size() / 2], absl::Milliseconds(300))
      << "median " << took[took.size() / 2] << ": the owner waited for its poll";
}

}  // namespace
}  // namespace switchboard::testing
