// The real switchboard-gateway binary killed (SIGKILL) at arbitrary moments
// while it consumes run requests and emits status messages, then restarted:
// every run request becomes exactly one run, and every status message of
// the server's log reaches the status queue at least once, with at most one
// duplicate per kill.

#include <signal.h>

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "wire/run_request.h"
#include "switchboard/v1/cursors.grpc.pb.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/clients/subprocess.h"
#include "tests/gateway/storage_queue_env.h"
#include "tests/gateway/storage_queue_support.h"
#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard::gateway {
namespace {

using storage_queue::QueueClient;
using switchboard::testing::AzuriteQueueAccount;
using switchboard::testing::DrainJson;
using switchboard::testing::LogStatusMessages;
using switchboard::testing::Count;
using switchboard::testing::Peek;
using switchboard::testing::QueueGatewayConfig;
using switchboard::testing::Subprocess;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;
using switchboard::testing::WaitFor;
using nlohmann::json;

std::unique_ptr<Subprocess> StartGateway(const GatewayConfig& c, const std::string& log_file) {
  auto p = std::make_unique<Subprocess>();
  Subprocess::Options o;
  o.env["SWITCHBOARD_AZURE_STORAGE_KEY"] = c.azure_storage_key;  // secrets never on the command line
  o.stderr_file = log_file;
  std::string err;
  bool ok = p->Start({SWITCHBOARD_GATEWAY_PATH, "--server=" + c.server, "--http_address=127.0.0.1:0",
                      "--timeout_seconds=5", "--azure_queue_endpoint=" + c.azure_queue_endpoint,
                      "--azure_storage_account=" + c.azure_storage_account,
                      "--run_request_queue=" + c.run_request_queue,
                      "--run_request_poison_queue=" + c.run_request_poison_queue, "--status_queue=" + c.status_queue,
                      "--azure_queue_visibility_timeout_seconds=2"},
                     o, &err);
  EXPECT_TRUE(ok) << err;
  return p;
}

int64_t Cursor(const std::shared_ptr<grpc::Channel>& ch, const std::string& name) {
  grpc::ClientContext ctx;
  v1::GetCursorRequest req;
  req.set_name(name);
  v1::Cursor c;
  return v1::CursorService::NewStub(ch)->GetCursor(&ctx, req, &c).ok() ? c.sequence() : 0;
}

TEST(StorageQueueRestart, KilledGatewayLosesNothingAndDuplicatesAtMostOncePerKill) {
  TempDir dir, logs;
  TestServer server(dir.path());
  auto ch = server.Channel();
  GatewayConfig c = QueueGatewayConfig(server.server().grpc_address(), "kill");
  QueueClient q(AzuriteQueueAccount());
  ASSERT_TRUE(q.CreateQueue(c.run_request_queue).ok());

  constexpr int kRequests = 12;
  std::set<std::string> ids;
  for (int i = 0; i < kRequests; ++i) {
    v1::SubmitRunRequest r = testing::FishRequest("", "templates/new-workspace-template", absl::StrCat("K", i));
    auto put = q.PutMessage(c.run_request_queue, absl::Base64Escape(wire::RunRequestToJson(r)));
    ASSERT_TRUE(put.ok()) << put.status();
    ids.insert(put->id);
  }

  std::vector<json> received;
  constexpr int kKills = 3;
  for (int k = 0; k < kKills; ++k) {
    auto gw = StartGateway(c, absl::StrCat(logs.path(), "/gateway-", k, ".log"));
    size_t before = received.size();
    // Kill it as soon as it has emitted something new (or after a while).
    WaitFor([&] {
      DrainJson(q, c.status_queue, &received);
      return received.size() > before;
    }, 20);
    gw->Signal(SIGKILL);
    std::cerr << "killed gateway " << k << " after " << received.size() << " status messages\n";
    EXPECT_TRUE(gw->Wait(std::chrono::seconds(10)).has_value());
  }

  auto last = StartGateway(c, absl::StrCat(logs.path(), "/gateway-last.log"));
  auto stub = v1::ResourcingService::NewStub(ch);
  // Every request becomes a run awaiting approval, and the queue empties.
  std::map<std::string, int> runs_per_id;
  ASSERT_TRUE(WaitFor([&] {
    grpc::ClientContext ctx;
    v1::ListRunsRequest req;
    req.set_page_size(100);
    v1::ListRunsResponse resp;
    if (!stub->ListRuns(&ctx, req, &resp).ok()) return false;
    runs_per_id.clear();
    int waiting = 0;
    for (const auto& r : resp.runs()) {
      runs_per_id[r.request_id()]++;
      if (r.state() == v1::Run::AWAITING_APPROVAL) ++waiting;
    }
    return waiting == kRequests && Count(q, c.run_request_queue) == 0;
  }, 120)) << "runs: " << runs_per_id.size();
  ASSERT_EQ(runs_per_id.size(), static_cast<size_t>(kRequests));
  for (const auto& [id, n] : runs_per_id) {
    EXPECT_TRUE(ids.count(id)) << id;
    EXPECT_EQ(n, 1) << "one run per queue message id " << id;
  }
  EXPECT_TRUE(Count(q, c.run_request_poison_queue) == 0);

  // The emitter catches up with the log: its cursor reaches the last status.
  int64_t last_status = 0;
  std::vector<json> expected = LogStatusMessages(ch, &last_status);
  ASSERT_GE(expected.size(), static_cast<size_t>(2 * kRequests)) << "REQUESTED and PENDING_APPROVAL per workspace";
  ASSERT_TRUE(WaitFor([&] { return Cursor(ch, "cursors/gateway-status-queue") >= last_status; }, 60));
  ASSERT_TRUE(WaitFor([&] {
    DrainJson(q, c.status_queue, &received);
    return received.size() >= expected.size();
  }, 20));
  DrainJson(q, c.status_queue, &received);

  // Nothing lost: every expected message arrived at least as often as the
  // log has it; duplicates: at most one per kill.
  std::map<std::string, int> want, got;
  for (const auto& m : expected) want[m.dump()]++;
  for (const auto& m : received) got[m.dump()]++;
  for (const auto& [m, n] : want) EXPECT_GE(got[m], n) << "lost: " << m;
  for (const auto& [m, n] : got) EXPECT_TRUE(want.count(m)) << "never in the log: " << m;
  EXPECT_LE(received.size(), expected.size() + kKills);
  std::cerr << "status messages: " << expected.size() << " in the log, " << received.size() << " received\n";
  last->Stop();
}

}  // namespace
}  // namespace switchboard::gateway
