// The status queue emitter's cursor lease (StatusEmitterOptions::lease_ttl,
// status_queue_cursor_lease_seconds): several gateways on one switchboardd
// and one status cursor take turns, the holder emitting and the others
// standing by, as the Event Grid publisher does (PublisherLeaseTest). A real
// Azurite and an in-process switchboardd (on PostgreSQL with
// SWITCHBOARD_TEST_STORE_URL set).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gateway/adapters/storage_queue/status_emitter.h"
#include "gateway/gateway.h"
#include "switchboard/v1/cursors.grpc.pb.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/gateway/http_client.h"
#include "tests/gateway/storage_queue_env.h"
#include "tests/gateway/storage_queue_support.h"
#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard::gateway::storage_queue {
namespace {

using nlohmann::json;
using switchboard::testing::AzuriteQueueAccount;
using switchboard::testing::DrainJson;
using switchboard::testing::LogStatusMessages;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;
using switchboard::testing::UniqueQueueName;
using switchboard::testing::WaitFor;
using std::chrono::milliseconds;

constexpr char kCursor[] = "cursors/test-status-emitter";

// What one emitter put and which errors it counted.
struct Tally {
  std::atomic<int> puts{0};
  std::mutex mu;
  std::vector<std::string> errors;
  bool Counted(const std::string& kind) {
    std::lock_guard<std::mutex> lock(mu);
    return std::find(errors.begin(), errors.end(), kind) != errors.end();
  }
};

struct Fixture {
  TempDir dir;
  std::unique_ptr<TestServer> server;
  std::shared_ptr<grpc::Channel> ch;
  std::unique_ptr<client::Connection> conn;
  QueueClient q{AzuriteQueueAccount()};
  std::string queue = UniqueQueueName("lease-status");
  std::vector<json> received;
  int runs = 0;

  Fixture() {
    server = std::make_unique<TestServer>(dir.path());
    ch = server->Channel();
    client::ClientOptions o;
    o.server = server->server().grpc_address();
    o.timeout = absl::Seconds(5);
    conn = std::move(*client::Connection::Open(o));
  }

  std::unique_ptr<StatusEmitter> MakeEmitter(const std::string& holder, milliseconds ttl, Tally* tally) {
    StatusEmitterOptions o;
    o.queue = queue;
    o.cursor = kCursor;
    o.max_backoff = milliseconds(500);
    o.lease_ttl = ttl;
    o.standby_retry = milliseconds(200);
    o.lease_holder = holder;
    Hooks h;
    h.count = [tally](const std::string& name, const std::string&, uint64_t n) {
      if (name == "storage_queue_status_messages") tally->puts += static_cast<int>(n);
    };
    h.error = [tally](const std::string& kind) {
      std::lock_guard<std::mutex> lock(tally->mu);
      tally->errors.push_back(kind);
    };
    return std::make_unique<StatusEmitter>(conn.get(), &q, o, h);
  }

  // Submits `n` runs (each makes status events), and waits until every run
  // so far awaits approval when `settle`.
  void Submit(int n, bool settle = true) {
    auto stub = v1::ResourcingService::NewStub(ch);
    for (int i = 0; i < n; ++i) {
      grpc::ClientContext ctx;
      v1::Run run;
      auto req = testing::FishRequest(testing::NewRequestId(), "templates/new-workspace-template",
                                      absl::StrCat("L", runs++));
      grpc::Status s = stub->SubmitRun(&ctx, req, &run);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    if (!settle) return;
    ASSERT_TRUE(WaitFor([&] {
      grpc::ClientContext ctx;
      v1::ListRunsRequest req;
      req.set_page_size(100);
      v1::ListRunsResponse resp;
      if (!stub->ListRuns(&ctx, req, &resp).ok()) return false;
      int waiting = 0;
      for (const auto& r : resp.runs()) waiting += r.state() == v1::Run::AWAITING_APPROVAL;
      return waiting == runs;
    }, 60)) << runs << " runs do not all await approval";
  }

  int64_t Cursor() {
    grpc::ClientContext ctx;
    v1::GetCursorRequest req;
    req.set_name(kCursor);
    v1::Cursor c;
    return v1::CursorService::NewStub(ch)->GetCursor(&ctx, req, &c).ok() ? c.sequence() : 0;
  }

  // The status messages of the log so far; waits until the cursor covers
  // the last of them.
  std::vector<json> CaughtUp() {
    int64_t last = 0;
    std::vector<json> expected = LogStatusMessages(ch, &last);
    EXPECT_TRUE(WaitFor([&] { return Cursor() >= last; }, 30)) << "cursor " << Cursor() << " < " << last;
    return expected;
  }

  // Drains the status queue; every message of `expected` must have arrived
  // at least as often, and nothing else.
  void ExpectAllReceived(const std::vector<json>& expected) {
    DrainJson(q, queue, &received);
    std::map<std::string, int> want, got;
    for (const auto& m : expected) want[m.dump()]++;
    for (const auto& m : received) got[m.dump()]++;
    for (const auto& [m, n] : want) EXPECT_GE(got[m], n) << "lost: " << m;
    for (const auto& [m, n] : got) EXPECT_TRUE(want.count(m)) << "never in the log: " << m;
  }

  grpc::Status Acquire(const std::string& holder, v1::CursorLease* out) {
    grpc::ClientContext ctx;
    v1::AcquireCursorLeaseRequest req;
    req.set_name(kCursor);
    req.set_holder(holder);
    req.mutable_ttl()->set_seconds(300);
    return v1::CursorService::NewStub(ch)->AcquireCursorLease(&ctx, req, out);
  }
  grpc::Status Release(const std::string& holder, int64_t token) {
    grpc::ClientContext ctx;
    v1::ReleaseCursorLeaseRequest req;
    req.set_name(kCursor);
    req.set_holder(holder);
    req.set_token(token);
    v1::ReleaseCursorLeaseResponse resp;
    return v1::CursorService::NewStub(ch)->ReleaseCursorLease(&ctx, req, &resp);
  }
};

TEST(StatusEmitterLeaseTest, OneEmitsAndTheOtherTakesOverWhenItDiesLosingNothing) {
  Fixture f;
  Tally ta, tb;
  const auto ttl = milliseconds(3000);
  f.Submit(2);
  auto a = f.MakeEmitter("gateway-a", ttl, &ta);
  a->Start();
  f.CaughtUp();
  EXPECT_TRUE(a->lease_held());
  auto b = f.MakeEmitter("gateway-b", ttl, &tb);
  b->Start();
  f.Submit(2);  // B stands by through many of its retries while A emits
  auto expected = f.CaughtUp();
  EXPECT_FALSE(b->lease_held());
  EXPECT_EQ(tb.puts, 0) << "only the holder emits";
  EXPECT_EQ(ta.puts, static_cast<int>(expected.size()));
  f.ExpectAllReceived(expected);
  EXPECT_EQ(f.received.size(), expected.size()) << "each status once";

  // A dies (no last commit, no hand-back) with statuses still coming: B
  // takes over within the ttl and a few seconds, and every status arrives.
  f.Submit(1, false);
  const auto died = std::chrono::steady_clock::now();
  a->Abandon();
  f.Submit(1);
  ASSERT_TRUE(WaitFor([&] { return b->lease_held(); }, 7));
  EXPECT_LE(std::chrono::steady_clock::now() - died, ttl + std::chrono::seconds(3));
  expected = f.CaughtUp();
  f.ExpectAllReceived(expected);
  EXPECT_LE(f.received.size(), expected.size() + 1) << "at most the one A put and did not commit, twice";
  EXPECT_GT(tb.puts, 0);
  b->Stop();
}

// A restarted switchboardd on SQLite holds no leases. After its watch
// reconnects, the emitter renews before it puts anything more
// (CursorLeaseHolder::Confirm), finds the lease gone, takes it again and
// resumes from the committed cursor; put first, the status's commit would be
// refused and the status put twice. The ttl is far longer than the test, so
// no periodic renewal finds it out first.
TEST(StatusEmitterLeaseTest, AfterAServerRestartPutsNothingUntilItHoldsTheLeaseAgain) {
  Fixture f;
  Tally ta;
  f.Submit(1);
  auto a = f.MakeEmitter("gateway-a", milliseconds(30000), &ta);
  a->Start();
  f.CaughtUp();
  ASSERT_TRUE(a->lease_held());
  // Restarted on the same address and data; the emitter's connection stays.
  auto restarted = switchboard::testing::RestartOnTheSameAddress(&f.server, f.dir.path());
  ASSERT_NE(restarted, nullptr);
  f.ch = grpc::CreateChannel(restarted->grpc_address(), grpc::InsecureChannelCredentials());
  f.Submit(1);
  auto expected = f.CaughtUp();
  f.ExpectAllReceived(expected);
  EXPECT_EQ(f.received.size(), expected.size()) << "each status once";
  EXPECT_EQ(ta.puts, static_cast<int>(expected.size()));
  a->Stop();
}

TEST(StatusEmitterLeaseTest, AStoppedHolderHandsTheLeaseBackAtOnce) {
  Fixture f;
  Tally ta, tb;
  const auto ttl = milliseconds(30000);  // far longer than the test waits
  f.Submit(2);
  auto a = f.MakeEmitter("gateway-a", ttl, &ta);
  a->Start();
  f.CaughtUp();
  auto b = f.MakeEmitter("gateway-b", ttl, &tb);
  b->Start();
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_FALSE(b->lease_held());
  a->Stop();
  EXPECT_FALSE(a->lease_held());
  ASSERT_TRUE(WaitFor([&] { return b->lease_held(); }, 3))
      << "a clean stop hands the lease back: no waiting for the ttl";
  const int by_a = ta.puts;
  f.Submit(2);
  auto expected = f.CaughtUp();
  f.ExpectAllReceived(expected);
  EXPECT_EQ(f.received.size(), expected.size()) << "B resumed from A's last commit: nothing sent twice";
  EXPECT_EQ(ta.puts, by_a);
  EXPECT_EQ(tb.puts, static_cast<int>(expected.size()) - by_a);
  b->Stop();
}

TEST(StatusEmitterLeaseTest, AFencedHolderIsRefusedItsCommitStopsEmittingAndResumesWhenItGetsTheLeaseBack) {
  Fixture f;
  Tally ta;
  // Renewed every 100 s: within this test A can only find out through a
  // refused commit.
  const auto ttl = milliseconds(300000);
  f.Submit(1);
  auto a = f.MakeEmitter("gateway-a", ttl, &ta);
  a->Start();
  f.CaughtUp();
  EXPECT_TRUE(a->lease_held());

  // Another holder takes the lease from under A (as when A stalled past its
  // ttl): A's lease is handed back in its name, and the thief acquires it.
  v1::CursorLease as_a, thief;
  ASSERT_TRUE(f.Acquire(a->lease_holder(), &as_a).ok());
  ASSERT_TRUE(f.Release(a->lease_holder(), as_a.token()).ok());
  ASSERT_TRUE(f.Acquire("thief", &thief).ok());
  EXPECT_GT(thief.token(), as_a.token());
  const int64_t cursor = f.Cursor();
  const int puts = ta.puts;

  // A puts the next status, its commit is refused, and it stands by: the
  // cursor does not move, and nothing more is put.
  f.Submit(1);
  ASSERT_TRUE(WaitFor([&] { return !a->lease_held(); }, 10)) << "the fenced commit was not refused";
  EXPECT_EQ(ta.puts, puts + 1) << "the one status put before the refused commit";
  // Counted just after the lease is marked lost (CursorLeaseHolder::Lost
  // logs in between), so wait for it.
  EXPECT_TRUE(WaitFor([&] { return ta.Counted("status_queue_cursor_lease_lost"); }, 5));
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(f.Cursor(), cursor) << "a fenced commit writes nothing";
  EXPECT_EQ(ta.puts, puts + 1) << "a holder that lost the lease puts nothing more";

  // The thief hands it back: A takes it again and resumes from the cursor.
  ASSERT_TRUE(f.Release("thief", thief.token()).ok());
  ASSERT_TRUE(WaitFor([&] { return a->lease_held(); }, 3));
  auto expected = f.CaughtUp();
  f.ExpectAllReceived(expected);
  EXPECT_EQ(f.received.size(), expected.size() + 1) << "only the status of the refused commit twice";
  a->Stop();
}

TEST(StatusEmitterLeaseTest, WithoutALeaseEveryEmitterEmits) {
  Fixture f;
  Tally ta, tb;
  f.Submit(1);
  auto a = f.MakeEmitter("gateway-a", milliseconds(0), &ta);
  auto b = f.MakeEmitter("gateway-b", milliseconds(0), &tb);
  a->Start();
  b->Start();
  auto expected = f.CaughtUp();
  const int n = static_cast<int>(expected.size());
  ASSERT_TRUE(WaitFor([&] { return ta.puts == n && tb.puts == n; }, 30)) << ta.puts << " and " << tb.puts;
  f.ExpectAllReceived(expected);
  EXPECT_EQ(f.received.size(), 2 * expected.size());
  EXPECT_FALSE(a->lease_held());
}

// The config key and the gauge, through two in-process gateways.
TEST(StatusEmitterLeaseTest, GatewaysTakeTurnsAndTheGaugeSaysWhichEmits) {
  Fixture f;
  GatewayConfig c = testing::QueueGatewayConfig(f.server->server().grpc_address(), "lease-gw");
  c.status_queue_cursor_lease_seconds = 3;
  auto held = [](const Gateway& g) {
    auto m = testing::HttpClient(g.http_address()).Get("/metrics");
    if (m.body.find("switchboard_gateway_status_queue_cursor_lease_held 1\n") != std::string::npos) return 1;
    if (m.body.find("switchboard_gateway_status_queue_cursor_lease_held 0\n") != std::string::npos) return 0;
    ADD_FAILURE() << "no lease gauge:\n" << m.body;
    return -1;
  };
  auto one = Gateway::Start(c);
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(WaitFor([&] { return held(**one) == 1; }, 10));
  auto two = Gateway::Start(c);
  ASSERT_TRUE(two.ok()) << two.status();
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(held(**two), 0) << "the second gateway stands by";
  EXPECT_EQ(held(**one), 1);
  (*one)->Stop();
  ASSERT_TRUE(WaitFor([&] { return held(**two) == 1; }, 5)) << "the second takes over when the first stops";
  (*two)->Stop();
}

}  // namespace
}  // namespace switchboard::gateway::storage_queue
