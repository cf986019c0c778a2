// The status bridge's cursor as a job (kind status_bridge.cursor,
// server/notification/status_bridge.h): after kill -9 the bridge resumes
// from the job's cursor, which each publish checkpointed in its own
// transaction, so nothing is published twice or skipped; a bridge whose
// lease was taken over writes nothing and stops; a data dir from before
// jobs keeps its position.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "server/core/event_hub.h"
#include "server/core/job_queue.h"
#include "server/core/store.h"
#include "server/notification/bus_engine.h"
#include "server/notification/bus_route.h"
#include "server/notification/status_bridge.h"
#include "server/notification/status_routes.h"
#include "tests/core/test_support.h"
#include "tests/notification/app_fixtures.h"
#include "tests/notification/bus_client.h"
#include "tests/notification/daemon_process.h"
#include "tests/core/store_jobs.h"

namespace switchboard::testing {
namespace {

using notification::StatusBridge;

bool WaitUntil(const std::function<bool()>& done, int timeout_ms = 10000) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

struct CursorJob {
  int64_t id = 0;  // 0: no job
  int state = -1;
  std::string payload;
  std::string owner;
  int64_t token = 0;
};

// The status_bridge.cursor job, read straight from the file (a running
// server is not disturbed: WAL readers do not block it).
CursorJob ReadCursorJob(const std::string& data_dir) {
  std::vector<core::Job> jobs = JobsInStore(data_dir, "status_bridge.cursor");
  EXPECT_LE(jobs.size(), 1u) << "the cursor is one job";
  CursorJob job;
  if (!jobs.empty()) {
    job.id = jobs.back().id;
    job.state = static_cast<int>(jobs.back().state);
    job.payload = jobs.back().payload;
    job.owner = jobs.back().lease.owner;
    job.token = jobs.back().lease.token;
  }
  return job;
}

int64_t PayloadOf(const CursorJob& job) { return job.payload.empty() ? -1 : std::stoll(job.payload); }

// ---- In-process: the store, the hub, the bus and the bridge alone ----

// A destination that takes every event, so every status change is bridged.
class TakeAll : public notification::BusRoute {
 public:
  absl::StatusOr<int> Route(const v1::BusEvent&, core::TxnReader&, core::Mutation&,
                            notification::AfterCommit*) override {
    return 1;
  }
  bool Wants(const std::string&) const override { return true; }
};

class Rig {
 public:
  explicit Rig(const std::string& dir) {
    auto s = core::OpenSqliteStore({dir + "/switchboard.db"});
    EXPECT_TRUE(s.ok()) << s.status();
    store = std::move(*s);
    hub = std::make_unique<core::EventHub>(store.get(), core::EventHub::Options{});
    store->SetCommitListener([h = hub.get()](auto events) { h->OnCommitted(std::move(events)); });
    bus = std::make_unique<notification::BusEngine>(store.get());
    bus->AddRoute(&route);
  }
  ~Rig() {
    if (bridge) bridge->Stop();
    hub->Close();
    store->Close();
  }
  // Starts a bridge (stopping the one before) held by `owner`.
  absl::Status StartBridge(const std::string& owner, absl::Duration lease = absl::Seconds(60),
                           absl::Duration heartbeat = absl::Seconds(20)) {
    if (bridge) bridge->Stop();
    StatusBridge::Options o;
    o.owner = owner;
    o.lease = lease;
    o.heartbeat = heartbeat;
    bridge = std::make_unique<StatusBridge>(store.get(), hub.get(), bus.get(), o);
    return bridge->Start(&pool);
  }

  // A managed-app status change in the log; returns its sequence.
  int64_t AppChange(const std::string& app) {
    v1::NotificationEvent note;
    auto* h = note.mutable_application()->add_history();
    h->set_event_type(v1::PATCH);
    h->set_provisioning_state(v1::PROVISIONING_SUCCEEDED);
    core::Mutation m;
    m.scope = "test.AppChange";
    m.events.push_back({"notification", "application", app, "", note.SerializeAsString()});
    auto r = store->Commit(std::move(m));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->last_sequence : -1;
  }

  // The event_uuids on the bus.
  std::set<std::string> Bridged() {
    std::set<std::string> uuids;
    auto page = store->ListResources("bus_event", "", 1000);
    EXPECT_TRUE(page.ok()) << page.status();
    for (const auto& [name, value] : page->items) {
      v1::BusEvent e;
      EXPECT_TRUE(e.ParseFromString(value));
      uuids.insert(e.envelope().event_uuid());
    }
    return uuids;
  }

  TakeAll route;
  // The bridge's steps; stopped after the bridge (members go in reverse).
  core::Pool pool{core::PoolOptions{"core", 1, 1024}};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<core::EventHub> hub;
  std::unique_ptr<notification::BusEngine> bus;
  std::unique_ptr<StatusBridge> bridge;
};

std::string Uuid(int64_t sequence) { return notification::StatusEventUuid(sequence); }

std::vector<core::Job> Claim(core::JobQueue& q, const std::string& owner) {
  std::promise<absl::StatusOr<std::vector<core::Job>>> p;
  q.Claim(StatusBridge::kJobKind, owner, 1, absl::Hours(1),
          [&p](absl::StatusOr<std::vector<core::Job>> r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : std::vector<core::Job>();
}

TEST(StatusBridgeJob, EachPublishCarriesTheCursorAndARestartResumesFromIt) {
  TempDir dir;
  Rig rig(dir.path());
  ASSERT_TRUE(rig.StartBridge("holder-a").ok());
  EXPECT_EQ(rig.bridge->cursor(), 0);
  const int64_t a = rig.AppChange("apps/a");
  const int64_t b = rig.AppChange("apps/b");
  ASSERT_TRUE(WaitUntil([&] { return rig.Bridged().count(Uuid(b)) == 1; }));
  // The checkpoint commits with the publish: once b is on the bus, the
  // durable cursor has reached it (a kill -9 now resumes after it).
  CursorJob running = ReadCursorJob(dir.path());
  EXPECT_EQ(running.state, static_cast<int>(core::JobState::kRunning));
  EXPECT_EQ(running.owner, "holder-a");
  EXPECT_GE(PayloadOf(running), b);
  EXPECT_EQ(rig.Bridged(), (std::set<std::string>{Uuid(a), Uuid(b)}));

  // A clean stop saves and releases; the next holder claims the job and
  // starts where it ended, publishing only what came after.
  rig.bridge->Stop();
  const int64_t stopped_at = rig.bridge->cursor();
  CursorJob released = ReadCursorJob(dir.path());
  EXPECT_EQ(released.state, static_cast<int>(core::JobState::kReady));
  EXPECT_EQ(PayloadOf(released), stopped_at);
  const int64_t c = rig.AppChange("apps/c");
  ASSERT_TRUE(rig.StartBridge("holder-b").ok());
  EXPECT_EQ(rig.bridge->cursor(), stopped_at) << "the bridge resumes from the job's cursor";
  ASSERT_TRUE(WaitUntil([&] { return rig.Bridged().count(Uuid(c)) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(rig.Bridged(), (std::set<std::string>{Uuid(a), Uuid(b), Uuid(c)}));
  CursorJob resumed = ReadCursorJob(dir.path());
  EXPECT_EQ(resumed.id, running.id) << "one job for the cursor, claimed again";
  EXPECT_EQ(resumed.owner, "holder-b");
  EXPECT_EQ(resumed.token, 2);
  EXPECT_GE(PayloadOf(resumed), c);
}

TEST(StatusBridgeJob, ABridgeWhoseLeaseWasTakenOverWritesNothingAndStops) {
  TempDir dir;
  Rig rig(dir.path());
  // A short lease and no heartbeat to speak of: once idle, it expires.
  ASSERT_TRUE(rig.StartBridge("holder-a", absl::Milliseconds(300), absl::Hours(1)).ok());
  const int64_t first = rig.AppChange("apps/first");
  ASSERT_TRUE(WaitUntil([&] { return rig.Bridged().count(Uuid(first)) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));

  // Another replica takes the expired lease over.
  auto taken = Claim(rig.store->jobs(), "holder-b");
  ASSERT_EQ(taken.size(), 1u) << "the lease did not expire";
  EXPECT_EQ(taken[0].lease.token, 2);
  const std::string payload = taken[0].payload;
  EXPECT_GE(std::stoll(payload), first);

  const int64_t second = rig.AppChange("apps/second");
  ASSERT_TRUE(WaitUntil([&] { return rig.bridge->lease_lost(); })) << "the old holder did not notice";
  rig.bridge->Stop();
  EXPECT_LT(rig.bridge->cursor(), second);
  EXPECT_EQ(rig.Bridged(), (std::set<std::string>{Uuid(first)}))
      << "the old holder published after its lease was taken over";
  CursorJob job = ReadCursorJob(dir.path());
  EXPECT_EQ(job.state, static_cast<int>(core::JobState::kRunning)) << "the old holder's stop released the job";
  EXPECT_EQ(job.owner, "holder-b");
  EXPECT_EQ(job.token, 2);
  EXPECT_EQ(job.payload, payload) << "the old holder moved the cursor";
}

TEST(StatusBridgeJob, ADataDirFromBeforeJobsKeepsItsPosition) {
  TempDir dir;
  int64_t s1 = 0, s2 = 0, s3 = 0;
  {
    // As the bridge before jobs left it: the cursor in a resource, at s2.
    Rig old(dir.path());
    s1 = old.AppChange("apps/1");
    s2 = old.AppChange("apps/2");
    s3 = old.AppChange("apps/3");
    core::Mutation m;
    m.scope = "notification.StatusBridge";
    m.writes.push_back({"status_bridge", "cursor", std::to_string(s2), false});
    ASSERT_TRUE(old.store->Commit(std::move(m)).ok());
  }
  EXPECT_EQ(ReadCursorJob(dir.path()).id, 0);

  Rig rig(dir.path());
  ASSERT_TRUE(rig.StartBridge("holder-a").ok());
  EXPECT_EQ(rig.bridge->cursor(), s2) << "the old cursor's position was lost";
  auto old_cursor = rig.store->GetResource("status_bridge", "cursor");
  ASSERT_TRUE(old_cursor.ok());
  EXPECT_FALSE(old_cursor->has_value()) << "the old cursor stays after its move into the job";
  ASSERT_TRUE(WaitUntil([&] { return rig.Bridged().count(Uuid(s3)) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(rig.Bridged(), (std::set<std::string>{Uuid(s3)})) << s1 << " and " << s2 << " were bridged before";

  // Migrated once: the next start claims the job and reads its cursor.
  ASSERT_TRUE(rig.StartBridge("holder-b").ok());
  EXPECT_GE(rig.bridge->cursor(), s3);
  CursorJob job = ReadCursorJob(dir.path());
  EXPECT_EQ(job.token, 2);
}

TEST(StatusBridgeJob, AnOldCursorThatIsNotANumberFailsTheStartNamingIt) {
  TempDir dir;
  Rig rig(dir.path());
  core::Mutation m;
  m.writes.push_back({"status_bridge", "cursor", "twelve", false});
  ASSERT_TRUE(rig.store->Commit(std::move(m)).ok());
  absl::Status s = rig.StartBridge("holder-a");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("status_bridge/cursor"), absl::string_view::npos) << s;
  EXPECT_EQ(ReadCursorJob(dir.path()).id, 0) << "a refused migration enqueued the job";
  rig.bridge.reset();
}

// ---- The real switchboardd, killed with -9 ----

// A switchboardd child process on `data_dir`; its log goes to `log`.
class Daemon : public DaemonProcess {
 public:
  Daemon(const std::string& data_dir, const std::string& log)
      : DaemonProcess(SWITCHBOARDD_PATH, data_dir, log, {"--bus_status_events=1"}) {}
};

// The highest log sequence among the bridged envelopes (data.sequence).
int64_t LastBridged(const std::vector<v1::BusEvent>& events) {
  int64_t last = 0;
  for (const auto& e : events) {
    last = std::max(last, static_cast<int64_t>(e.envelope().data().fields().at("sequence").number_value()));
  }
  return last;
}

TEST(StatusBridgeJob, AfterKill9TheBridgeResumesFromTheJobsCursor) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  int64_t last_bridged = 0;
  {
    Daemon first(data, dir.path() + "/first.log");
    std::string address = first.Address();
    ASSERT_FALSE(address.empty()) << first.Log();
    auto stub = v1::NotificationService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    CreateSubscriptionOk(*stub, "keep_q", "notify.managedapp.#");
    RecordOk(*stub, "put-accepted.service-catalog.json");
    RecordOk(*stub, "put-succeeded.service-catalog.json");
    ASSERT_TRUE(WaitUntil([&] { return BusEvents(*stub, "notify.managedapp.#").size() >= 2; }));
    last_bridged = LastBridged(BusEvents(*stub, "notify.managedapp.#"));
    ASSERT_GT(last_bridged, 0);
    first.Kill9();
  }
  CursorJob killed = ReadCursorJob(data);
  EXPECT_EQ(killed.state, static_cast<int>(core::JobState::kRunning)) << "no clean close";
  EXPECT_GE(PayloadOf(killed), last_bridged) << "a published event's checkpoint did not commit with it";

  Daemon second(data, dir.path() + "/second.log");
  std::string address = second.Address();
  ASSERT_FALSE(address.empty()) << second.Log();
  auto stub = v1::NotificationService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  // The second run starts at the killed run's cursor: it re-reads nothing
  // that was published.
  std::smatch m;
  std::string log = second.Log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("[^\\n]*\"status bridge started\"[^\\n]*"))) << log;
  const std::string started = m[0];
  std::smatch field;
  ASSERT_TRUE(std::regex_search(started, field, std::regex("\"cursor\":([0-9]+)"))) << started;
  EXPECT_EQ(field[1].str(), killed.payload) << started;
  ASSERT_TRUE(std::regex_search(started, field, std::regex("\"claim\":([0-9]+)"))) << started;
  EXPECT_EQ(field[1].str(), "2") << "not the killed run's job, claimed again: " << started;

  RecordOk(*stub, "delete-deleting.json");
  ASSERT_TRUE(WaitUntil([&] { return BusEvents(*stub, "notify.managedapp.#").size() >= 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto events = BusEvents(*stub, "notify.managedapp.#");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].envelope().event_name(), "notify.managedapp.put.accepted");
  EXPECT_EQ(events[1].envelope().event_name(), "notify.managedapp.put.succeeded");
  EXPECT_EQ(events[2].envelope().event_name(), "notify.managedapp.delete.deleting");
  EXPECT_GT(LastBridged(events), last_bridged);
}

}  // namespace
}  // namespace switchboard::testing
