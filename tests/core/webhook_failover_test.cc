// A webhook's owner lease across lost replicas (issue 22, docs/scale-out.md):
// three real switchboardd processes on one PostgreSQL schema, one webhook
// whose receiver counts the requests it answers at once. The replica holding
// the webhook's owner lease is killed (kill -9) or frozen (SIGSTOP) while
// deliveries are pending; another replica takes the lease once it runs out
// and delivers the rest, nothing lost, and the webhook's in-flight cap holds
// throughout. Needs SWITCHBOARD_TEST_PG_URL and Azurite (tools/services.sh);
// fails, never skips, without them.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clients/lib/webhook_receiver.h"
#include "tests/core/replica_procs.h"
#include "tests/core/test_support.h"
#include "tests/notification/bus_client.h"
#include "tests/notification/counting_receiver.h"
#include "tests/notification/webhook_client.h"

namespace switchboard::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

constexpr int kCap = 2;  // webhook_per_endpoint_in_flight's default
constexpr int kBefore = 60, kAfter = 10;

// What DisruptTheOwner did.
struct Disrupted {
  std::string hook;
  int victim = -1;
  int next = -1;
};

class WebhookFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = MissingChaosEnv(/*need_pg=*/true);
    ASSERT_TRUE(missing.empty()) << missing;
    ReplicaProcs::Options o;
    o.binary = SWITCHBOARDD_PATH;
    o.dir = dir_.path();
    o.pg_url = Env("SWITCHBOARD_TEST_PG_URL");
    o.schema = absl::StrCat("webhook_failover_", getpid(), "_", std::time(nullptr) % 100000);
    schema_ = o.schema;
    auto procs = ReplicaProcs::Create(o);
    ASSERT_TRUE(procs.ok()) << procs.status();
    procs_ = std::move(*procs);
    absl::Status s = procs_->StartAll();
    ASSERT_TRUE(s.ok()) << s;
    for (int i = 0; i < procs_->size(); ++i) stubs_.push_back(v1::NotificationService::NewStub(procs_->channel(i)));
  }

  static std::string EventId(int i) { return absl::StrFormat("00000000-0000-4000-8000-%012d", 5000 + i); }

  void Publish(int replica, int i) {
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope(EventId(i));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::PublishResponse resp;
    grpc::Status s = stubs_[replica]->Publish(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.matched_subscriptions(), 1);
  }

  // The replica whose process holds the webhook's owner lease, or -1.
  int Owner(PgCheck& pg) {
    auto owners = pg.Column(absl::StrCat("SELECT convert_from(owner, 'UTF8') FROM ", schema_,
                                         ".jobs WHERE kind='webhook.owner' AND state=1"));
    if (owners.size() != 1) return -1;
    for (int i = 0; i < procs_->size(); ++i) {
      std::string instance;
      std::ifstream(procs_->data_dir(i) + "/instance") >> instance;
      if (!instance.empty() && owners[0].rfind(instance + "/", 0) == 0) return i;
    }
    return -1;
  }
  int WaitForOwner(PgCheck& pg, int not_this, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    int o = Owner(pg);
    while ((o < 0 || o == not_this) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(200));
      o = Owner(pg);
    }
    return o == not_this ? -1 : o;
  }

  // Delivery jobs of the webhook by state: {unfinished, done}.
  std::pair<int64_t, int64_t> DeliveryJobs(PgCheck& pg, const std::string& hook) {
    const std::string kind = "webhook.delivery:" + hook;
    return {pg.Int(absl::StrCat("SELECT count(*) FROM ", schema_, ".jobs WHERE kind='", kind, "' AND state<2")),
            pg.Int(absl::StrCat("SELECT count(*) FROM ", schema_, ".jobs WHERE kind='", kind, "' AND state=2"))};
  }

  // One webhook, its 60 events published on all three replicas and under
  // way; then `disrupt` (kill -9, SIGSTOP) hits the replica holding the
  // owner lease, 10 more events are published on another replica, another
  // replica takes the lease, and all 70 arrive.
  void DisruptTheOwner(CountingReceiver& rx, PgCheck& pg, const std::function<void(int)>& disrupt,
                       const std::string& what, Disrupted* out) {
    out->hook = CreateWebhookOk(*stubs_[0], GappsWebhook(rx.url(), kSecret, 5000, 600)).name();
    for (int i = 0; i < kBefore; ++i) Publish(i % 3, i);
    ASSERT_TRUE(rx.WaitForDistinct(6, absl::Seconds(20))) << "no deliveries began";
    out->victim = Owner(pg);
    ASSERT_GE(out->victim, 0) << "no replica holds the owner lease";
    disrupt(out->victim);
    const size_t at = rx.distinct();
    ASSERT_LT(at, static_cast<size_t>(kBefore)) << "everything arrived before the " << what << ": the test shows nothing";
    const int survivor = (out->victim + 1) % 3;
    for (int i = kBefore; i < kBefore + kAfter; ++i) Publish(survivor, i);
    out->next = WaitForOwner(pg, out->victim, absl::Seconds(20));
    EXPECT_GE(out->next, 0) << "no other replica took the lease within 20 s of the " << what;
    EXPECT_TRUE(rx.WaitForDistinct(kBefore + kAfter, absl::Seconds(40)))
        << rx.distinct() << " of " << kBefore + kAfter << " events arrived (" << at << " at the " << what << ")\n"
        << procs_->AllLogTails(20);
  }

  TempDir dir_;
  std::string schema_;
  std::unique_ptr<ReplicaProcs> procs_;
  std::vector<std::unique_ptr<v1::NotificationService::Stub>> stubs_;
};

TEST_F(WebhookFailover, Kill9OfTheOwningReplicaMovesTheLeaseAndLosesNoDelivery) {
  CountingReceiver rx(/*hold_ms=*/150);
  PgCheck pg(Env("SWITCHBOARD_TEST_PG_URL"), schema_);
  Disrupted d;
  DisruptTheOwner(rx, pg, [this](int victim) { procs_->Kill(victim); }, "kill", &d);
  if (HasFatalFailure()) return;
  EXPECT_LE(rx.max_in_flight(), kCap) << "more attempts at once than the cap";
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (DeliveryJobs(pg, d.hook).first > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(DeliveryJobs(pg, d.hook), (std::pair<int64_t, int64_t>(0, kBefore + kAfter)))
      << "{unfinished, done} delivery jobs";
}

TEST_F(WebhookFailover, SigstopOfTheOwningReplicaMovesTheLeaseAndItsLateWritesAreRefused) {
  CountingReceiver rx(/*hold_ms=*/150);
  PgCheck pg(Env("SWITCHBOARD_TEST_PG_URL"), schema_);
  Disrupted d;
  DisruptTheOwner(rx, pg, [this](int victim) { procs_->Stop(victim); }, "stop", &d);
  if (HasFatalFailure()) return;
  procs_->Continue(d.victim);
  // The frozen holder finds its lease taken, stops, and its late writes are
  // refused: the delivery jobs all end done once, the new owner keeps it.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (procs_->LogLines(d.victim, "webhook owner lease lost").empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_FALSE(procs_->LogLines(d.victim, "webhook owner lease lost").empty()) << procs_->LogTail(d.victim, 30);
  absl::SleepFor(absl::Seconds(2));
  // The attempts it had under way when frozen end after the resume; their
  // deliveries were claimed again since, so their outcomes are refused.
  EXPECT_FALSE(procs_->LogLines(d.victim, "its delivery was taken over").empty())
      << "no late outcome of the frozen replica was refused (none under way at the stop?)\n"
      << procs_->LogTail(d.victim, 30);
  EXPECT_EQ(Owner(pg), d.next) << "the resumed replica took the lease back";
  EXPECT_EQ(DeliveryJobs(pg, d.hook), (std::pair<int64_t, int64_t>(0, kBefore + kAfter)))
      << "{unfinished, done} delivery jobs";
  EXPECT_LE(rx.max_in_flight(), kCap) << "more attempts at once than the cap";
  // A publish after the resume still arrives once the cluster settled.
  Publish(d.victim, kBefore + kAfter);
  EXPECT_TRUE(rx.WaitForDistinct(kBefore + kAfter + 1, absl::Seconds(15)));
  EXPECT_LE(rx.max_in_flight(), kCap);
}

}  // namespace
}  // namespace switchboard::testing
