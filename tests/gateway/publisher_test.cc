// The outbound publisher against a real switchboardd and a local capture
// topic. The source is the notification log (bus Publish events), encoded
// by a small test encoder, because the media codec lives elsewhere: what is
// tested here is batching, ordering, retries and the durable cursor.

#include "gateway/eventgrid/publisher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "switchboard/v1/cursors.grpc.pb.h"
#include "tests/core/test_support.h"
#include "tests/gateway/capture_server.h"

namespace switchboard::gateway::eventgrid {
namespace {

using switchboard::testing::CaptureServer;
using switchboard::testing::PublishOk;
using switchboard::testing::RestartOnTheSameAddress;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;

std::string Uuid(int i) {
  char buf[40];
  snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", i);
  return buf;
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<TestServer> server;
  std::unique_ptr<client::Connection> conn;
  CaptureServer capture;
  std::unique_ptr<TopicClient> topic;
  Metrics metrics;

  Fixture() {
    server = std::make_unique<TestServer>(dir.path());
    client::ClientOptions o;
    o.server = server->server().grpc_address();
    o.timeout = absl::Seconds(5);
    conn = std::move(*client::Connection::Open(o));
    TopicOptions t;
    t.url = capture.url();
    t.key = "topic-key";
    t.initial_backoff = std::chrono::milliseconds(10);
    t.max_backoff = std::chrono::milliseconds(50);
    topic = std::make_unique<TopicClient>(t);
  }

  std::unique_ptr<Publisher> MakePublisher(int max_events = 100, size_t max_bytes = 1000000) {
    PublisherOptions p;
    p.max_events = max_events;
    p.max_bytes = max_bytes;
    return MakePublisher(p, topic.get());
  }

  // A publisher of cursors/test-publisher with `p`'s other options, POSTing
  // through `via`.
  std::unique_ptr<Publisher> MakePublisher(PublisherOptions p, const TopicClient* via) {
    p.cursor = "cursors/test-publisher";
    auto make = [this]() -> std::unique_ptr<LogSource> {
      return std::make_unique<WatchSource<v1::NotificationEvent>>(
          conn.get(),
          [this](grpc::ClientContext* ctx, int64_t after) {
            v1::WatchEventsRequest req;
            req.set_after_sequence(after);
            return v1::NotificationService::NewStub(conn->channel())->WatchEvents(ctx, req);
          },
          [](const v1::NotificationEvent& e) {
            std::vector<Event> out;
            if (!e.has_bus_event()) return out;
            Event ev = NewResponse("test.bus", e.bus_event().envelope().event_name(),
                                   {{"sequence", e.sequence()}, {"pad", std::string(200, 'p')}});
            ev.id = e.bus_event().envelope().event_uuid();
            out.push_back(ev);
            return out;
          });
    };
    return std::make_unique<Publisher>(conn.get(), make, via, p, &metrics);
  }

  // A topic client that sends `key`, so that the capture tells which
  // publisher POSTed what.
  std::unique_ptr<TopicClient> MakeTopic(const std::string& key) {
    TopicOptions t;
    t.url = capture.url();
    t.key = key;
    t.initial_backoff = std::chrono::milliseconds(10);
    t.max_backoff = std::chrono::milliseconds(50);
    return std::make_unique<TopicClient>(t);
  }

  int64_t Cursor() {
    grpc::ClientContext ctx;
    v1::GetCursorRequest req;
    req.set_name("cursors/test-publisher");
    v1::Cursor c;
    auto s = v1::CursorService::NewStub(conn->channel())->GetCursor(&ctx, req, &c);
    return s.ok() ? c.sequence() : -1;
  }
};

TEST(PublisherTest, PublishesInOrderInBoundedBatchesAndCommitsTheCursor) {
  Fixture f;
  auto bus = f.server->Notification();
  for (int i = 1; i <= 250; ++i) PublishOk(*bus, Uuid(i));
  auto pub = f.MakePublisher(/*max_events=*/100, /*max_bytes=*/20000);
  pub->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(250, std::chrono::seconds(20)));
  auto events = f.capture.Events();
  ASSERT_EQ(events.size(), 250u);
  for (int i = 0; i < 250; ++i) {
    EXPECT_EQ(events[i]["id"], Uuid(i + 1));
    EXPECT_EQ(events[i]["data"]["sequence"], i + 1);
    EXPECT_EQ(events[i]["dataVersion"], "1.0");
  }
  for (const auto& body : f.capture.Bodies()) {
    EXPECT_LE(body.size(), 20000u);
    EXPECT_LE(nlohmann::json::parse(body).size(), 100u);
  }
  EXPECT_GE(f.capture.Bodies().size(), 3u);
  for (const auto& k : f.capture.Keys()) EXPECT_EQ(k, "topic-key");
  // The cursor reaches the last event.
  for (int i = 0; i < 200 && f.Cursor() != 250; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(f.Cursor(), 250);
  // Live events after catching up are published too.
  PublishOk(*bus, Uuid(251));
  ASSERT_TRUE(f.capture.WaitForEvents(251, std::chrono::seconds(10)));
  EXPECT_EQ(f.capture.Events().back()["id"], Uuid(251));
}

TEST(PublisherTest, RetriesServerErrorsAndThrottlingWithoutLoss) {
  Fixture f;
  auto bus = f.server->Notification();
  for (int i = 1; i <= 30; ++i) PublishOk(*bus, Uuid(i));
  f.capture.FailNext(3, 503);
  auto pub = f.MakePublisher(10);
  pub->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(30, std::chrono::seconds(20)));
  f.capture.FailNext(2, 429);
  for (int i = 31; i <= 40; ++i) PublishOk(*bus, Uuid(i));
  ASSERT_TRUE(f.capture.WaitForEvents(40, std::chrono::seconds(20)));
  auto events = f.capture.Events();
  ASSERT_EQ(events.size(), 40u);  // failed POSTs were not recorded, then resent
  for (int i = 0; i < 40; ++i) EXPECT_EQ(events[i]["id"], Uuid(i + 1));
  EXPECT_GE(f.capture.posts(), 4 + 5);
  EXPECT_NE(f.metrics.Render().find("switchboard_gateway_eventgrid_post_retries_total"), std::string::npos);
}

TEST(PublisherTest, KilledBeforePublishingThenRestartedLosesNothing) {
  Fixture f;
  auto bus = f.server->Notification();
  for (int i = 1; i <= 20; ++i) PublishOk(*bus, Uuid(i));
  // The topic is down: the first publisher reads everything but publishes nothing.
  f.capture.FailNext(1000000, 500);
  {
    auto pub = f.MakePublisher(5);
    pub->Start();
    for (int i = 0; i < 100 && f.capture.posts() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(pub->committed(), 0);
  }  // stopped: "killed" between accept and publish
  EXPECT_EQ(f.Cursor(), -1);  // never committed
  f.capture.FailNext(0, 500);
  auto pub = f.MakePublisher(5);
  pub->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(20, std::chrono::seconds(20)));
  std::set<std::string> ids;
  for (const auto& e : f.capture.Events()) ids.insert(e["id"]);
  EXPECT_EQ(ids.size(), 20u);
}

TEST(PublisherTest, RestartResumesFromTheCursorWithoutRepublishing) {
  Fixture f;
  auto bus = f.server->Notification();
  for (int i = 1; i <= 10; ++i) PublishOk(*bus, Uuid(i));
  {
    auto pub = f.MakePublisher();
    pub->Start();
    ASSERT_TRUE(f.capture.WaitForEvents(10, std::chrono::seconds(10)));
    for (int i = 0; i < 200 && f.Cursor() != 10; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(f.Cursor(), 10);
  }
  for (int i = 11; i <= 15; ++i) PublishOk(*bus, Uuid(i));
  auto pub = f.MakePublisher();
  pub->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(15, std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto events = f.capture.Events();
  ASSERT_EQ(events.size(), 15u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(events[i]["id"], Uuid(i + 1));
}

TEST(PublisherTest, SurvivesAServerRestart) {
  Fixture f;
  auto pub = f.MakePublisher();
  PublishOk(*f.server->Notification(), Uuid(1));
  pub->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(1, std::chrono::seconds(10)));
  // Restart the server on the same address and data; the connection and
  // the publisher stay.
  auto restarted = RestartOnTheSameAddress(&f.server, f.dir.path());
  ASSERT_NE(restarted, nullptr);
  auto bus = v1::NotificationService::NewStub(
      grpc::CreateChannel(restarted->grpc_address(), grpc::InsecureChannelCredentials()));
  PublishOk(*bus, Uuid(2));
  // At least once: when the server stopped before event 1's cursor commit
  // reached it, the publisher sends event 1 again after the restart (its
  // cursor lease lapses meanwhile, and it resumes from the committed cursor).
  auto ids = [&] {
    std::vector<std::string> out;
    for (const auto& e : f.capture.Events()) out.push_back(e["id"]);
    return out;
  };
  for (int i = 0; i < 1500; ++i) {
    const std::vector<std::string> now = ids();
    if (std::count(now.begin(), now.end(), Uuid(2)) > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::vector<std::string> got = ids();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), Uuid(2)) << "event 2 arrives, after every copy of event 1";
  EXPECT_EQ(std::count(got.begin(), got.end(), Uuid(2)), 1);
  for (const std::string& id : got) EXPECT_TRUE(id == Uuid(1) || id == Uuid(2)) << id;
  pub->Stop();
}

// A restarted switchboardd holds no leases. Once event 1's cursor commit has
// landed, nothing after the restart may go out under the freed lease: the
// publisher renews it when its watch reconnects (CursorLeaseHolder::Confirm),
// finds it gone, takes it again and resumes from the committed cursor. Sent
// first, event 2's commit would be refused and event 2 sent twice.
TEST(PublisherTest, AfterAServerRestartSendsNothingUntilItHoldsTheLeaseAgain) {
  Fixture f;
  auto pub = f.MakePublisher();
  PublishOk(*f.server->Notification(), Uuid(1));
  pub->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(1, std::chrono::seconds(10)));
  for (int i = 0; i < 500 && f.Cursor() != 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(f.Cursor(), 1);
  auto restarted = RestartOnTheSameAddress(&f.server, f.dir.path());
  ASSERT_NE(restarted, nullptr);
  auto bus = v1::NotificationService::NewStub(
      grpc::CreateChannel(restarted->grpc_address(), grpc::InsecureChannelCredentials()));
  PublishOk(*bus, Uuid(2));
  ASSERT_TRUE(f.capture.WaitForEvents(2, std::chrono::seconds(30)));
  // Time for a refused commit and a second copy, were there to be one.
  for (int i = 0; i < 100 && f.Cursor() != 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<std::string> got;
  for (const auto& e : f.capture.Events()) got.push_back(e["id"]);
  EXPECT_EQ(got, (std::vector<std::string>{Uuid(1), Uuid(2)}));
  EXPECT_EQ(f.Cursor(), 2);
  pub->Stop();
}

// Several gateways on one cursor (PublisherOptions::lease_ttl): the holder
// of the cursor's lease publishes, the others stand by.

PublisherOptions Leased(const std::string& holder, std::chrono::milliseconds ttl) {
  PublisherOptions p;
  p.max_events = 5;
  p.lease_ttl = ttl;
  p.standby_retry = std::chrono::milliseconds(200);
  p.lease_holder = holder;
  return p;
}

template <class Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::set<std::string> Ids(const CaptureServer& capture) {
  std::set<std::string> ids;
  for (const auto& e : capture.Events()) ids.insert(e["id"]);
  return ids;
}

std::set<std::string> Expected(int n) {
  std::set<std::string> ids;
  for (int i = 1; i <= n; ++i) ids.insert(Uuid(i));
  return ids;
}

TEST(PublisherLeaseTest, OnePublishesAndTheOtherTakesOverWhenItDiesLosingNothing) {
  Fixture f;
  auto bus = f.server->Notification();
  auto topic_a = f.MakeTopic("key-a");
  auto topic_b = f.MakeTopic("key-b");
  for (int i = 1; i <= 20; ++i) PublishOk(*bus, Uuid(i));
  const auto ttl = std::chrono::milliseconds(3000);
  auto a = f.MakePublisher(Leased("gateway-a", ttl), topic_a.get());
  a->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(20, std::chrono::seconds(20)));
  ASSERT_TRUE(a->lease_held());
  auto b = f.MakePublisher(Leased("gateway-b", ttl), topic_b.get());
  b->Start();
  // B stands by for several of its retries, while A publishes what comes.
  for (int i = 21; i <= 30; ++i) {
    PublishOk(*bus, Uuid(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(f.capture.WaitForEvents(30, std::chrono::seconds(20)));
  EXPECT_FALSE(b->lease_held());
  for (const auto& k : f.capture.Keys()) EXPECT_EQ(k, "key-a") << "only the holder POSTs";
  ASSERT_TRUE(WaitUntil([&] { return f.Cursor() == 30; }, std::chrono::seconds(10)));

  // A dies (no last commit, no hand-back), with events still coming: B takes
  // over within the ttl and a few seconds, and every event reaches the topic.
  for (int i = 31; i <= 35; ++i) PublishOk(*bus, Uuid(i));
  const auto died = std::chrono::steady_clock::now();
  a->Abandon();
  for (int i = 36; i <= 40; ++i) PublishOk(*bus, Uuid(i));
  ASSERT_TRUE(WaitUntil([&] { return b->lease_held(); }, ttl + std::chrono::seconds(4)));
  const auto took = std::chrono::steady_clock::now() - died;
  EXPECT_LE(took, ttl + std::chrono::seconds(3));
  ASSERT_TRUE(WaitUntil([&] { return Ids(f.capture) == Expected(40); }, std::chrono::seconds(20)))
      << "events lost: " << Ids(f.capture).size() << " of 40 distinct ids";
  EXPECT_EQ(f.capture.Keys().back(), "key-b");
  ASSERT_TRUE(WaitUntil([&] { return f.Cursor() == 40; }, std::chrono::seconds(10)));
  b->Stop();
}

TEST(PublisherLeaseTest, AStoppedHolderHandsTheLeaseBackAtOnce) {
  Fixture f;
  auto bus = f.server->Notification();
  for (int i = 1; i <= 10; ++i) PublishOk(*bus, Uuid(i));
  const auto ttl = std::chrono::milliseconds(30000);  // far longer than the test waits
  auto a = f.MakePublisher(Leased("gateway-a", ttl), f.topic.get());
  a->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(10, std::chrono::seconds(20)));
  ASSERT_TRUE(WaitUntil([&] { return f.Cursor() == 10; }, std::chrono::seconds(10)));
  auto b = f.MakePublisher(Leased("gateway-b", ttl), f.topic.get());
  b->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(b->lease_held());
  a->Stop();
  ASSERT_TRUE(WaitUntil([&] { return b->lease_held(); }, std::chrono::seconds(3)))
      << "a clean stop hands the lease back: no waiting for the ttl";
  for (int i = 11; i <= 15; ++i) PublishOk(*bus, Uuid(i));
  ASSERT_TRUE(f.capture.WaitForEvents(15, std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto events = f.capture.Events();
  ASSERT_EQ(events.size(), 15u) << "B resumed from A's last commit: nothing sent twice";
  for (int i = 0; i < 15; ++i) EXPECT_EQ(events[i]["id"], Uuid(i + 1));
}

TEST(PublisherLeaseTest, AHolderThatLosesTheLeaseStopsPublishingAndResumesWhenItGetsItBack) {
  Fixture f;
  auto bus = f.server->Notification();
  auto stub = v1::CursorService::NewStub(f.conn->channel());
  for (int i = 1; i <= 10; ++i) PublishOk(*bus, Uuid(i));
  const auto ttl = std::chrono::milliseconds(3000);
  auto a = f.MakePublisher(Leased("gateway-a", ttl), f.topic.get());
  a->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(10, std::chrono::seconds(20)));
  ASSERT_TRUE(WaitUntil([&] { return f.Cursor() == 10; }, std::chrono::seconds(10)));

  // Another holder takes the lease from under A (as when A stalled past its
  // ttl): A's lease is handed back in its name, and the thief acquires it.
  auto acquire = [&](const std::string& holder, int64_t token, v1::CursorLease* out) {
    grpc::ClientContext ctx;
    v1::AcquireCursorLeaseRequest req;
    req.set_name("cursors/test-publisher");
    req.set_holder(holder);
    req.mutable_ttl()->set_seconds(300);
    req.set_token(token);
    return stub->AcquireCursorLease(&ctx, req, out);
  };
  auto release = [&](const std::string& holder, int64_t token) {
    grpc::ClientContext ctx;
    v1::ReleaseCursorLeaseRequest req;
    req.set_name("cursors/test-publisher");
    req.set_holder(holder);
    req.set_token(token);
    v1::ReleaseCursorLeaseResponse resp;
    return stub->ReleaseCursorLease(&ctx, req, &resp);
  };
  v1::CursorLease as_a, thief;
  ASSERT_TRUE(acquire(a->lease_holder(), 0, &as_a).ok());
  ASSERT_TRUE(release(a->lease_holder(), as_a.token()).ok());
  ASSERT_TRUE(acquire("thief", 0, &thief).ok());
  EXPECT_GT(thief.token(), as_a.token());

  // A finds out at its next renewal (a third of the ttl) and stands by:
  // what is published now is not POSTed, and the cursor does not move.
  ASSERT_TRUE(WaitUntil([&] { return !a->lease_held(); }, ttl));
  const int posts = f.capture.posts();
  for (int i = 11; i <= 20; ++i) PublishOk(*bus, Uuid(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(f.capture.posts(), posts) << "a holder that lost the lease POSTs nothing";
  EXPECT_EQ(f.Cursor(), 10);
  EXPECT_NE(f.metrics.Render().find("eventgrid_cursor_lease_lost"), std::string::npos);

  // The thief hands it back: A takes it again and resumes from the cursor.
  ASSERT_TRUE(release("thief", thief.token()).ok());
  ASSERT_TRUE(WaitUntil([&] { return a->lease_held(); }, std::chrono::seconds(3)));
  ASSERT_TRUE(f.capture.WaitForEvents(20, std::chrono::seconds(10)));
  EXPECT_EQ(Ids(f.capture), Expected(20));
  ASSERT_TRUE(WaitUntil([&] { return f.Cursor() == 20; }, std::chrono::seconds(10)));
}

TEST(PublisherLeaseTest, WithoutALeaseEveryPublisherPublishes) {
  Fixture f;
  auto bus = f.server->Notification();
  auto topic_a = f.MakeTopic("key-a");
  auto topic_b = f.MakeTopic("key-b");
  for (int i = 1; i <= 5; ++i) PublishOk(*bus, Uuid(i));
  auto a = f.MakePublisher(Leased("gateway-a", std::chrono::milliseconds(0)), topic_a.get());
  auto b = f.MakePublisher(Leased("gateway-b", std::chrono::milliseconds(0)), topic_b.get());
  a->Start();
  b->Start();
  ASSERT_TRUE(f.capture.WaitForEvents(10, std::chrono::seconds(20)));
  std::set<std::string> keys;
  for (const auto& k : f.capture.Keys()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"key-a", "key-b"}));
  EXPECT_FALSE(a->lease_held());
}

// What the publisher POSTs is written without building a document; it must
// be what nlohmann would write for the same object, byte for byte.
TEST(EventSerialize, MatchesTheDocumentItStandsFor) {
  Event e = NewResponse("response.blob.metadata.success", "/blob/\"quoted\"\n\u00e9",
                        {{"operationContext", {{"z", 1}, {"a", "\x01 control"}}}, {"blobUri", "https://x/y"}});
  e.data["bad"] = std::string("\xff\xfe");  // not UTF-8: replaced
  nlohmann::json doc = {{"id", e.id},
                        {"subject", e.subject},
                        {"eventType", e.event_type},
                        {"eventTime", e.event_time},
                        {"dataVersion", e.data_version},
                        {"metadataVersion", "1"},
                        {"data", e.data}};
  EXPECT_EQ(Serialize(e), doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  e.topic = "/subscriptions/s/topics/t";
  doc["topic"] = e.topic;
  EXPECT_EQ(Serialize(e), doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));

  // FromJson is its inverse for the codec's events.
  Event back = FromJson(nlohmann::json::parse(Serialize(e)));
  EXPECT_EQ(back.id, e.id);
  EXPECT_EQ(back.subject, e.subject);
  EXPECT_EQ(back.topic, e.topic);
  EXPECT_EQ(back.data["operationContext"]["z"], 1);
}

}  // namespace
}  // namespace switchboard::gateway::eventgrid
