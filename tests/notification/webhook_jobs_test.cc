// Webhook deliveries as jobs (kind webhook.delivery:<webhook>, server/core/job_queue.h):
// an attempt cut short by kill -9 is made again after the restart through
// its job; a retry waits for its job's run_at; a data dir from before jobs
// has its pending deliveries moved to jobs at start; outcomes are recorded
// many per mutation, and a lost lease refuses only its own.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include <google/protobuf/util/time_util.h>

#include "absl/time/clock.h"
#include "clients/lib/webhook_receiver.h"
#include "server/core/store.h"
#include "server/notification/webhook_migration.h"
#include "server/notification/webhook_outcomes.h"
#include "server/notification/webhook_owners.h"
#include "server/notification/webhooks.h"
#include "tests/core/test_support.h"
#include "tests/notification/bus_client.h"
#include "tests/notification/daemon_process.h"
#include "tests/notification/webhook_client.h"
#include "tests/core/store_jobs.h"

namespace switchboard::testing {
namespace {

using client::WebhookReceiver;
using google::protobuf::util::TimeUtil;
using Reply = WebhookReceiver::Reply;

std::string DbPath(const std::string& data_dir) { return data_dir + "/switchboard.db"; }

struct JobRow {
  int state = -1;  // -1: no job
  int attempts = 0;
  int64_t run_at_us = 0;
  std::string last_error;
};

// The webhook.delivery:<webhook> job of `delivery`, read straight from the
// file (the server may be running: WAL readers do not disturb it).
JobRow JobOf(const std::string& data_dir, const std::string& delivery) {
  std::vector<core::Job> jobs = JobsInStore(
      data_dir, notification::DeliveryJobKind(delivery.substr(0, delivery.find("/deliveries/"))), delivery);
  JobRow row;
  if (!jobs.empty()) {
    row.state = static_cast<int>(jobs.back().state);
    row.attempts = jobs.back().attempts;
    row.run_at_us = jobs.back().run_at_us;
    row.last_error = jobs.back().last_error;
  }
  return row;
}

v1::WebhookSubscription Hook(const std::string& url, int attempt_timeout_ms = 2000) {
  return GappsWebhook(url, kSecret, attempt_timeout_ms, 60);
}

std::string CreateWebhook(v1::NotificationService::Stub& stub, const v1::WebhookSubscription& hook) {
  return CreateWebhookOk(stub, hook).name();
}

// Polls ListDeliveries until `done` holds for the delivery `name` (any one
// of `hook` when empty).
v1::WebhookDelivery WaitDelivery(v1::NotificationService::Stub& stub, const std::string& hook,
                                 const std::function<bool(const v1::WebhookDelivery&)>& done,
                                 const std::string& name = "", int timeout_ms = 20000) {
  return WaitForDelivery(
      stub, hook,
      [&name](const v1::ListDeliveriesResponse&, const v1::WebhookDelivery& d) {
        return name.empty() || d.name() == name;
      },
      done, timeout_ms);
}

// A switchboardd child process on `data_dir`; its log goes to `log`.
class Daemon : public DaemonProcess {
 public:
  Daemon(const std::string& data_dir, const std::string& log)
      : DaemonProcess(SWITCHBOARDD_PATH, data_dir, log, {"--webhook_retry_base_ms=50", "--bus_status_events=0"}) {}
};

// The receiver holds the first attempt open (as a slow receiver would)
// while switchboardd is killed: that attempt was never recorded, and its
// job was RUNNING, leased to the dead process. The next start releases the
// lease, claims the job and makes the attempt again.
TEST(WebhookJobs, AnAttemptCutByKill9IsMadeAgainAfterTheRestartThroughItsJob) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::atomic<int> n{0};
  WebhookReceiver rx([&](const WebhookReceiver::Request&) { return Reply{200, {}, ++n == 1 ? 60000 : 0}; });
  std::string hook, delivery;
  {
    Daemon first(data, dir.path() + "/first.log");
    std::string address = first.Address();
    ASSERT_FALSE(address.empty()) << first.Log();
    auto stub = v1::NotificationService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    hook = CreateWebhook(*stub, Hook(rx.url() + "/hook", /*attempt_timeout_ms=*/60000));
    PublishOk(*stub, "wh-kill9");
    ASSERT_TRUE(rx.WaitFor(1, 15000)) << "the first attempt never reached the receiver";
    auto d = WaitDelivery(*stub, hook, [](const v1::WebhookDelivery&) { return true; });
    EXPECT_EQ(d.state(), v1::DELIVERY_PENDING);
    delivery = d.name();
    JobRow running = JobOf(data, delivery);
    EXPECT_EQ(running.state, static_cast<int>(core::JobState::kRunning)) << "the attempt's job is leased";
    first.Kill9();
  }
  EXPECT_EQ(JobOf(data, delivery).state, static_cast<int>(core::JobState::kRunning)) << "no clean close";

  Daemon second(data, dir.path() + "/second.log");
  std::string address = second.Address();
  ASSERT_FALSE(address.empty()) << second.Log();
  auto stub = v1::NotificationService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto d = WaitDelivery(*stub, hook, Final, delivery);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  ASSERT_EQ(d.attempts_size(), 1) << "the killed attempt was never recorded: " << d.ShortDebugString();
  EXPECT_EQ(d.attempts(0).status_code(), 200);
  ASSERT_TRUE(rx.WaitFor(2));
  EXPECT_EQ(rx.received()[1].headers.at("x-switchboard-event-id"), "wh-kill9");
  JobRow done = JobOf(data, delivery);
  EXPECT_EQ(done.state, static_cast<int>(core::JobState::kDone));
  EXPECT_EQ(done.attempts, 2) << "claimed by the killed process, then by the new one";
}

core::ServerConfig FastRetries() {
  core::ServerConfig c;
  c.webhook_retry_base_ms = 50;
  c.webhook_retry_max_ms = 200;
  return c;
}

// A 503 with Retry-After: the retry is the job's run_at, and the next
// attempt is not made before it.
TEST(WebhookJobs, ARetryWaitsForItsJobsRunAt) {
  TempDir dir;
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  std::atomic<int> n{0};
  WebhookReceiver rx([&](const WebhookReceiver::Request&) {
    if (++n == 1) return Reply{503, {{"Retry-After", "2"}}, 0};
    return Reply{200, {}, 0};
  });
  std::string hook = CreateWebhook(*stub, Hook(rx.url() + "/hook"));
  PublishOk(*stub, "wh-runat");
  auto retrying = WaitDelivery(*stub, hook, [](const auto& d) { return d.state() == v1::DELIVERY_RETRYING; });
  ASSERT_EQ(retrying.attempts_size(), 1);
  const int64_t next_us = TimeUtil::TimestampToMicroseconds(retrying.next_attempt_time());
  JobRow job = JobOf(dir.path(), retrying.name());
  EXPECT_EQ(job.state, static_cast<int>(core::JobState::kReady));
  EXPECT_EQ(job.run_at_us, next_us) << "the job's run_at is the record's next_attempt_time";
  EXPECT_NE(job.last_error.find("503"), std::string::npos) << job.last_error;
  EXPECT_GE(next_us - TimeUtil::TimestampToMicroseconds(retrying.attempts(0).time()), 1'900'000);

  auto d = WaitDelivery(*stub, hook, Final);
  EXPECT_EQ(d.state(), v1::DELIVERED);
  ASSERT_EQ(d.attempts_size(), 2);
  EXPECT_GE(TimeUtil::TimestampToMicroseconds(d.attempts(1).time()), next_us) << "attempted before its run_at";
  EXPECT_EQ(JobOf(dir.path(), d.name()).state, static_cast<int>(core::JobState::kDone));
}

// A data dir of the release before jobs: delivery records PENDING or
// RETRYING, no jobs. The start gives them jobs (keeping their schedule),
// and they are delivered.
TEST(WebhookJobs, PendingDeliveriesFromBeforeJobsAreMovedToJobsAndDelivered) {
  TempDir dir;
  WebhookReceiver rx([](const WebhookReceiver::Request&) { return Reply{200, {}, 0}; });
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  const int64_t later_us = now_us + 1'500'000;
  const std::string pending = "webhooks/old/deliveries/00000000000000000002";
  const std::string retrying = "webhooks/old/deliveries/00000000000000000004";
  const std::string gone = "webhooks/deleted/deliveries/00000000000000000006";
  {
    auto store = OpenServerStore(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    core::Mutation m;
    v1::WebhookSubscription hook = Hook(rx.url() + "/hook");
    hook.set_name("webhooks/old");
    m.writes.push_back({"webhook", hook.name(), hook.SerializeAsString(), false});
    auto put = [&](const std::string& name, const std::string& uuid, v1::DeliveryState state, int64_t next_us) {
      v1::BusEvent e;
      e.set_name("busEvents/" + uuid);
      *e.mutable_envelope() = Envelope(uuid);
      *e.mutable_publish_time() = TimeUtil::MicrosecondsToTimestamp(now_us);
      m.writes.push_back({"bus_event", e.name(), e.SerializeAsString(), false});
      v1::WebhookDelivery d;
      d.set_name(name);
      d.set_webhook(name.substr(0, name.find("/deliveries/")));
      d.set_event_uuid(uuid);
      d.set_event_name(e.envelope().event_name());
      d.set_state(state);
      *d.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(now_us);
      *d.mutable_next_attempt_time() = TimeUtil::MicrosecondsToTimestamp(next_us);
      if (state == v1::DELIVERY_RETRYING) d.add_attempts()->set_status_code(503);
      m.writes.push_back({"delivery", name, d.SerializeAsString(), false});
    };
    put(pending, "old-pending", v1::DELIVERY_PENDING, now_us);
    put(retrying, "old-retrying", v1::DELIVERY_RETRYING, later_us);
    put(gone, "old-gone", v1::DELIVERY_PENDING, now_us);  // its webhook was deleted
    ASSERT_TRUE((*store)->Commit(std::move(m)).ok());
    (*store)->Close();
  }
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  auto first = WaitDelivery(*stub, "webhooks/old", Final, pending);
  EXPECT_EQ(first.state(), v1::DELIVERED);
  auto second = WaitDelivery(*stub, "webhooks/old", Final, retrying);
  EXPECT_EQ(second.state(), v1::DELIVERED);
  ASSERT_EQ(second.attempts_size(), 2);
  EXPECT_GE(TimeUtil::TimestampToMicroseconds(second.attempts(1).time()), later_us) << "the schedule was kept";
  EXPECT_EQ(JobOf(dir.path(), pending).state, static_cast<int>(core::JobState::kDone));
  EXPECT_EQ(JobOf(dir.path(), retrying).state, static_cast<int>(core::JobState::kDone));
  EXPECT_EQ(JobOf(dir.path(), gone).state, -1) << "a deleted webhook's delivery gets no job";
  ASSERT_TRUE(rx.WaitFor(2));
  std::set<std::string> ids;
  for (const auto& r : rx.received()) ids.insert(r.headers.at("x-switchboard-event-id"));
  EXPECT_EQ(ids, (std::set<std::string>{"old-pending", "old-retrying"}));
}

// The migration runs once: its marker makes later starts skip the scan,
// and a scan that runs again enqueues nothing twice.
TEST(WebhookJobs, TheMigrationRunsOnceAndEnqueuesNothingTwice) {
  TempDir dir;
  auto store = core::OpenSqliteStore({DbPath(dir.path())});
  ASSERT_TRUE(store.ok()) << store.status();
  core::Mutation m;
  for (int i = 1; i <= 7; ++i) {
    v1::WebhookDelivery d;
    d.set_name("webhooks/a/deliveries/0000000000000000000" + std::to_string(i));
    d.set_webhook("webhooks/a");
    d.set_state(i % 2 ? v1::DELIVERY_PENDING : v1::DELIVERED);
    m.writes.push_back({"delivery", d.name(), d.SerializeAsString(), false});
  }
  ASSERT_TRUE((*store)->Commit(std::move(m)).ok());
  int64_t moved = -1;
  ASSERT_TRUE(notification::MigrateDeliveries(store->get(), {"webhooks/a"}, /*page_size=*/2, &moved).ok());
  EXPECT_EQ(moved, 4) << "the PENDING ones, over four pages";
  EXPECT_EQ(*(*store)->jobs().CountUnfinished(notification::DeliveryJobKind("webhooks/a")), 4);
  ASSERT_TRUE(notification::MigrateDeliveries(store->get(), {"webhooks/a"}, 2, &moved).ok());
  EXPECT_EQ(moved, 0) << "the marker stops a second scan";
  // Without the marker (a start interrupted before the last page) the
  // scan runs again, and de-duplication keeps one job per delivery.
  core::Mutation unmark;
  unmark.writes.push_back({notification::kMigrationKind, notification::kDeliveryJobsMigrated, "", true});
  ASSERT_TRUE((*store)->Commit(std::move(unmark)).ok());
  ASSERT_TRUE(notification::MigrateDeliveries(store->get(), {"webhooks/a"}, 2, &moved).ok());
  EXPECT_EQ(*(*store)->jobs().CountUnfinished(notification::DeliveryJobKind("webhooks/a")), 4);
  (*store)->Close();
}

// A data dir from before owner leases: every delivery job had the one kind
// webhook.delivery. The scan gives each unfinished one of a webhook that
// still exists a job of its webhook's kind (payload and run_at kept) and
// cancels the old ones, once.
TEST(WebhookJobs, OldKindDeliveryJobsMoveToTheirWebhooksKindsOnce) {
  TempDir dir;
  auto store = core::OpenSqliteStore({DbPath(dir.path())});
  ASSERT_TRUE(store.ok()) << store.status();
  const int64_t later_us = absl::ToUnixMicros(absl::Now()) + 3'600'000'000;
  core::Mutation m;
  for (int i = 1; i <= 5; ++i) {
    v1::WebhookDelivery d;
    d.set_webhook(i <= 4 ? "webhooks/a" : "webhooks/gone");
    d.set_name(d.webhook() + "/deliveries/0000000000000000000" + std::to_string(i));
    d.set_state(i == 3 ? v1::DELIVERED : v1::DELIVERY_PENDING);
    m.writes.push_back({"delivery", d.name(), d.SerializeAsString(), false});
    if (i != 3) {
      m.jobs.push_back(core::JobWrite::Enqueue(notification::kLegacyDeliveryJobKind, d.name(),
                                               "body " + std::to_string(i), absl::FromUnixMicros(later_us + i)));
    }
  }
  ASSERT_TRUE((*store)->Commit(std::move(m)).ok());
  int64_t moved = -1;
  ASSERT_TRUE(notification::MigrateDeliveryJobKinds(store->get(), {"webhooks/a"}, /*page_size=*/2, &moved).ok());
  EXPECT_EQ(moved, 3) << "the three unfinished ones of webhooks/a, over three pages";
  EXPECT_EQ(*(*store)->jobs().CountUnfinished(notification::kLegacyDeliveryJobKind), 0) << "the old ones cancelled";
  const std::string kind = notification::DeliveryJobKind("webhooks/a");
  EXPECT_EQ(*(*store)->jobs().CountUnfinished(kind), 3);
  for (int i : {1, 2, 4}) {
    auto job = (*store)->jobs().FindUnfinished(kind, "webhooks/a/deliveries/0000000000000000000" + std::to_string(i));
    ASSERT_TRUE(job.ok() && job->has_value()) << i;
    EXPECT_EQ((*job)->payload, "body " + std::to_string(i));
    EXPECT_EQ((*job)->run_at_us, later_us + i) << "the schedule was kept";
    EXPECT_EQ((*job)->state, core::JobState::kReady);
  }
  EXPECT_EQ(*(*store)->jobs().CountUnfinished(notification::DeliveryJobKind("webhooks/gone")), 0);
  ASSERT_TRUE(notification::MigrateDeliveryJobKinds(store->get(), {"webhooks/a"}, 2, &moved).ok());
  EXPECT_EQ(moved, 0) << "the marker stops a second scan";
  EXPECT_EQ(*(*store)->jobs().CountUnfinished(kind), 3);
  (*store)->Close();
}

// The same through a server: a data dir of the release before owner leases
// (old-kind jobs, no owner job) starts, takes its webhook's owner lease and
// delivers the moved jobs with their kept bodies.
TEST(WebhookJobs, AServerStartedOnOldKindJobsDeliversThem) {
  TempDir dir;
  std::mutex mu;
  std::vector<std::string> bodies;
  WebhookReceiver rx([&](const WebhookReceiver::Request& r) {
    std::lock_guard<std::mutex> lock(mu);
    bodies.push_back(r.body);
    return Reply{200, {}, 0};
  });
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  {
    auto store = OpenServerStore(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    core::Mutation m;
    v1::WebhookSubscription hook = Hook(rx.url() + "/hook");
    hook.set_name("webhooks/old");
    m.writes.push_back({"webhook", hook.name(), hook.SerializeAsString(), false});
    m.writes.push_back({notification::kMigrationKind, notification::kDeliveryJobsMigrated, "1", false});
    for (int i = 1; i <= 3; ++i) {
      v1::WebhookDelivery d;
      d.set_name("webhooks/old/deliveries/0000000000000000000" + std::to_string(i));
      d.set_webhook("webhooks/old");
      d.set_event_uuid("old-kind-" + std::to_string(i));
      d.set_state(v1::DELIVERY_PENDING);
      *d.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(now_us);
      *d.mutable_next_attempt_time() = TimeUtil::MicrosecondsToTimestamp(now_us);
      m.writes.push_back({"delivery", d.name(), d.SerializeAsString(), false});
      m.jobs.push_back(core::JobWrite::Enqueue(notification::kLegacyDeliveryJobKind, d.name(),
                                               "{\"old\": " + std::to_string(i) + "}", absl::FromUnixMicros(now_us)));
    }
    ASSERT_TRUE((*store)->Commit(std::move(m)).ok());
    (*store)->Close();
  }
  TestServer ts(dir.path(), FastRetries());
  auto stub = ts.Notification();
  for (int i = 1; i <= 3; ++i) {
    const std::string name = "webhooks/old/deliveries/0000000000000000000" + std::to_string(i);
    auto d = WaitDelivery(*stub, "webhooks/old", Final, name);
    EXPECT_EQ(d.state(), v1::DELIVERED) << name;
    EXPECT_EQ(JobOf(dir.path(), name).state, static_cast<int>(core::JobState::kDone)) << name;
  }
  std::lock_guard<std::mutex> lock(mu);
  std::sort(bodies.begin(), bodies.end());
  EXPECT_EQ(bodies, (std::vector<std::string>{"{\"old\": 1}", "{\"old\": 2}", "{\"old\": 3}"}));
  for (const core::Job& j : JobsInStore(dir.path(), notification::kLegacyDeliveryJobKind)) {
    EXPECT_EQ(j.state, core::JobState::kFailed) << j.key << " (old kind) still unfinished";
  }
  std::vector<core::Job> owner = JobsInStore(dir.path(), notification::kOwnerJobKind, "webhooks/old");
  ASSERT_EQ(owner.size(), 1u) << "the webhook got its owner lease job";
  EXPECT_EQ(owner[0].state, core::JobState::kRunning);
}

// A delete ends the webhook's owner lease and cancels its delivery jobs in
// its own transaction: nothing more reaches the receiver, and the owner job
// is finished within a keeper tick or two.
TEST(WebhookJobs, DeletingAWebhookCancelsItsDeliveriesAndEndsItsOwnerLease) {
  TempDir dir;
  core::ServerConfig config = FastRetries();
  config.webhook_retry_base_ms = 1000;
  config.webhook_retry_max_ms = 1000;
  TestServer ts(dir.path(), config);
  auto stub = ts.Notification();
  WebhookReceiver rx([](const WebhookReceiver::Request&) { return Reply{503, {}, 0}; });
  const std::string hook = CreateWebhook(*stub, Hook(rx.url() + "/hook"));
  PublishOk(*stub, "wh-delete-1");
  PublishOk(*stub, "wh-delete-2");
  ASSERT_TRUE(rx.WaitFor(2, 15000)) << "the first attempts never came";
  const absl::Time owned_by = absl::Now() + absl::Seconds(5);
  while (JobsInStore(dir.path(), notification::kOwnerJobKind, hook).empty() && absl::Now() < owned_by) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(JobsInStore(dir.path(), notification::kOwnerJobKind, hook).size(), 1u);
  EXPECT_EQ(JobsInStore(dir.path(), notification::kOwnerJobKind, hook)[0].state, core::JobState::kRunning);
  v1::DeleteWebhookSubscriptionRequest del;
  del.set_name(hook);
  del.set_request_id(NewRequestId());
  CallOk(*stub, &v1::NotificationService::Stub::DeleteWebhookSubscription, del);
  const size_t at_delete = rx.received().size();
  for (const core::Job& j : JobsInStore(dir.path(), notification::DeliveryJobKind(hook))) {
    EXPECT_EQ(j.state, core::JobState::kFailed) << j.key;
    EXPECT_NE(j.last_error.find("deleted"), std::string::npos) << j.last_error;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  auto owner_done = [&] {
    auto jobs = JobsInStore(dir.path(), notification::kOwnerJobKind, hook);
    return jobs.size() == 1 && jobs[0].state == core::JobState::kDone;
  };
  while (!owner_done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_TRUE(owner_done()) << "the deleted webhook's owner job is not finished";
  absl::SleepFor(absl::Milliseconds(2500));  // past the 1 s retries
  EXPECT_LE(rx.received().size(), at_delete + 2) << "attempts went on after the delete";
}

// Outcomes handed over faster than the store commits share mutations; one
// whose lease was taken over refuses only itself.
TEST(WebhookJobs, OutcomesShareMutationsAndALostLeaseRefusesOnlyItsOwn) {
  TempDir dir;
  auto store = core::OpenSqliteStore({DbPath(dir.path())});
  ASSERT_TRUE(store.ok()) << store.status();
  core::JobQueue& q = (*store)->jobs();
  constexpr int kJobs = 200;
  const std::string kind = notification::DeliveryJobKind("webhooks/x");
  {
    core::Mutation m;
    for (int i = 0; i < kJobs; ++i) {
      m.jobs.push_back(core::JobWrite::Enqueue(kind, "d" + std::to_string(i), ""));
    }
    ASSERT_TRUE((*store)->Commit(std::move(m)).ok());
  }
  std::promise<absl::StatusOr<std::vector<core::Job>>> claimed;
  q.Claim(kind, "me", kJobs, absl::Minutes(5),
          [&](absl::StatusOr<std::vector<core::Job>> r) { claimed.set_value(std::move(r)); });
  auto jobs = claimed.get_future().get();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), static_cast<size_t>(kJobs));

  std::mutex mu;
  std::map<std::string, absl::Status> recorded;
  std::condition_variable cv;
  notification::OutcomeWriter writer(store->get(), [&](const notification::Outcome& o, const absl::Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    recorded[o.delivery] = s;
    cv.notify_all();
  });
  auto add = [&](const core::Job& j, bool lost) {
    core::JobLease lease = j.lease;
    if (lost) lease.token += 1;  // as if another holder had claimed it since
    v1::WebhookDelivery d;
    d.set_name(j.key);
    d.set_state(v1::DELIVERED);
    notification::Outcome o{j.key, "webhooks/x", core::JobWrite::Complete(lease), d.SerializeAsString(), ""};
    v1::NotificationEvent e;
    *e.mutable_delivery() = d;
    o.event = e.SerializeAsString();
    writer.Add(std::move(o));
  };
  auto wait_for = [&](size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return recorded.size() >= n; });
  };
  // Handed over at once, as busy workers do.
  constexpr int kGrouped = kJobs - 10;
  for (int i = 0; i < kGrouped; ++i) add((*jobs)[i], false);
  ASSERT_TRUE(wait_for(kGrouped));
  writer.Drain();
  EXPECT_LT(writer.mutations(), kGrouped / 4) << "outcomes were not grouped";
  // The rest with one lost lease among them.
  const std::string lost = (*jobs)[kJobs - 5].key;
  for (int i = kGrouped; i < kJobs; ++i) add((*jobs)[i], (*jobs)[i].key == lost);
  ASSERT_TRUE(wait_for(kJobs));
  writer.Drain();
  for (const auto& [key, s] : recorded) {
    if (key == lost) {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    } else {
      EXPECT_TRUE(s.ok()) << key << ": " << s;
      auto r = (*store)->GetResource(notification::kDeliveryKind, key);
      ASSERT_TRUE(r.ok() && r->has_value()) << key << " was not written";
    }
  }
  EXPECT_FALSE((*store)->GetResource(notification::kDeliveryKind, lost)->has_value())
      << "the refused outcome's record was written";
  EXPECT_EQ(*q.CountUnfinished(kind), 1) << "the refused one's job is unfinished";
  (*store)->Close();
}

}  // namespace
}  // namespace switchboard::testing
