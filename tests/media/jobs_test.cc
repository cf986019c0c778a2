// Media operations as jobs ("media.operation", server/core/job_queue.h):
// every accepted operation is one, finished with its outcome; one whose
// holder died (kill -9 mid-run, lease unexpired) runs at the next start; and
// a previous release's media_pending resources become jobs on open.

#include <future>

#include "server/core/job_worker.h"
#include "server/core/store.h"
#include "server/media/media_job.h"
#include "server/media/op_recorder.h"
#include "tests/media/media_test_support.h"
#include "tests/core/store_jobs.h"

namespace switchboard::testing {
namespace {

using v1::MediaService;

v1::SetBlobMetadataRequest MetadataRequest(const std::string& id, const std::string& uri) {
  return BlobMetadataRequest(id, uri, "C3");
}

std::string DbPath(const std::string& data_dir) { return data_dir + "/switchboard.db"; }

// state, owner of the media.operation job of `operation`; state -1 if none.
std::pair<int, std::string> JobOf(const std::string& data_dir, const std::string& operation) {
  std::vector<core::Job> jobs = JobsInStore(data_dir, "media.operation", operation);
  if (jobs.empty()) return {-1, ""};
  return {static_cast<int>(jobs.front().state), jobs.front().lease.owner};
}

// Records `req` as ACCEPTED the way this release does, through a recorder
// whose jobs are held by `worker` (null: READY, nobody's), then stops there:
// the process "dies" before the work.
v1::Operation Accept(core::Store* store, core::JobWorker* worker, const v1::SetBlobMetadataRequest& req,
                     bool keep_request = true) {
  media::OpRecorder recorder(store);
  recorder.SetJobs(worker);
  media::MediaJob job = media::JobFor(v1::SET_BLOB_METADATA, req, req.blob_uri());
  if (!keep_request) job.begin.request.clear();
  std::promise<absl::StatusOr<media::OpRecorder::Begun>> p;
  recorder.BeginAsync(job.begin, [&p](absl::StatusOr<media::OpRecorder::Begun> b) { p.set_value(std::move(b)); });
  auto begun = p.get_future().get();
  EXPECT_TRUE(begun.ok()) << begun.status();
  return begun.ok() ? begun->op : v1::Operation();
}

TEST(MediaJobs, AnOperationIsAJobFinishedWithItsOutcome) {
  TempDir dir;
  std::string name;
  {
    MediaServer s(nlohmann::json::object(), dir.path());
    ASSERT_TRUE(s.PutLocal("media", "a.mp4", "abc").ok());
    v1::Operation op;
    ASSERT_TRUE(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), MetadataRequest("job-1", AzureUri("media", "a.mp4")),
                     &op)
                    .ok());
    EXPECT_EQ(op.state(), v1::Operation::SUCCEEDED);
    name = op.name();
  }
  EXPECT_EQ(JobOf(dir.path(), name).first, static_cast<int>(core::JobState::kDone));
}

TEST(MediaJobs, AnOperationWhoseHolderWasKilledRunsAtTheNextStart) {
  TempDir dir;
  std::string uri = AzureUri("media", "k.mp4");
  {
    MediaServer first(nlohmann::json::object(), dir.path());
    ASSERT_TRUE(first.PutLocal("media", "k.mp4", "abc").ok());
  }
  v1::Operation accepted;
  std::string killed_owner;
  {
    auto store = OpenServerStore(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    // A live engine's worker holds the job with a lease far from expiry,
    // as when switchboardd is killed mid-operation.
    core::JobWorker::Options o;
    o.kind = media::kJobKind;
    // What the killed process on this data dir owned: "<instance>/<start>".
    std::string instance;
    std::ifstream(dir.path() + "/instance") >> instance;
    ASSERT_FALSE(instance.empty()) << "the first start made the data dir's instance id";
    o.owner = instance + "/killed-replica";
    killed_owner = o.owner;
    o.lease = absl::Hours(1);
    core::JobWorker worker(&(*store)->jobs(), o, [](core::Job) {}, [] { return 0; });
    accepted = Accept(store->get(), &worker, MetadataRequest("killed-1", uri));
    (*store)->Close();
  }
  auto held = JobOf(dir.path(), accepted.name());
  ASSERT_EQ(held.first, static_cast<int>(core::JobState::kRunning));
  EXPECT_EQ(held.second, killed_owner);

  MediaServer second(nlohmann::json::object(), dir.path());
  v1::Operation done = second.WaitDone(accepted.name());
  EXPECT_EQ(done.state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(second.local().GetProperties({kAccount, "media", "k.mp4"})->metadata, (blob::Metadata{{"camera", "C3"}}));
}

// Fencing on the media path: a holder that stalled past its lease, and
// whose job another holder claimed, cannot record the outcome.
TEST(MediaJobs, AnOutcomeFromAHolderWhoseLeaseWasTakenOverIsRefused) {
  TempDir dir;
  auto store = core::OpenSqliteStore({DbPath(dir.path())});
  ASSERT_TRUE(store.ok()) << store.status();
  core::JobWorker::Options o;
  o.kind = media::kJobKind;
  o.owner = "stalled-replica";
  o.lease = absl::Milliseconds(100);
  core::JobWorker worker(&(*store)->jobs(), o, [](core::Job) {}, [] { return 0; });
  media::OpRecorder recorder(store->get());
  recorder.SetJobs(&worker);
  auto req = MetadataRequest("stalled-1", AzureUri("media", "s.mp4"));
  media::MediaJob job = media::JobFor(v1::SET_BLOB_METADATA, req, req.blob_uri());
  std::promise<absl::StatusOr<media::OpRecorder::Begun>> p;
  recorder.BeginAsync(job.begin, [&p](absl::StatusOr<media::OpRecorder::Begun> b) { p.set_value(std::move(b)); });
  auto begun = p.get_future().get();
  ASSERT_TRUE(begun.ok()) << begun.status();
  ASSERT_TRUE(worker.Held(begun->op.name()).has_value());

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::promise<absl::StatusOr<std::vector<core::Job>>> claimed;
  (*store)->jobs().Claim(media::kJobKind, "other-replica", 10, absl::Minutes(5),
                         [&claimed](absl::StatusOr<std::vector<core::Job>> r) { claimed.set_value(std::move(r)); });
  auto got = claimed.get_future().get();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].key, begun->op.name());

  auto late = recorder.Succeed(begun->op);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition) << late.status();
  EXPECT_NE(late.status().message().find("lease lost"), absl::string_view::npos) << late.status();
  EXPECT_FALSE(worker.Held(begun->op.name()).has_value()) << "a lost lease is not kept alive";
  auto now = recorder.Get(begun->op.name());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->state(), v1::Operation::ACCEPTED) << "the stalled holder's outcome was written";
  (*store)->Close();
}

// The same when the holder's own heartbeat learns of the loss first (a
// replica continued after SIGSTOP): the lease is no longer renewed, but the
// outcome still names it, and is refused.
TEST(MediaJobs, AnOutcomeAfterTheHeartbeatLearnedOfTheLossIsRefusedToo) {
  TempDir dir;
  auto store = core::OpenSqliteStore({DbPath(dir.path())});
  ASSERT_TRUE(store.ok()) << store.status();
  core::JobWorker::Options o;
  o.kind = media::kJobKind;
  o.owner = "stalled-replica";
  o.lease = absl::Milliseconds(200);
  o.tick = absl::Milliseconds(20);
  core::Pool ticks({"ticks", 1, 16});
  o.ticker_pool = &ticks;
  core::JobWorker worker(&(*store)->jobs(), o, [](core::Job) {}, [] { return 0; });
  media::OpRecorder recorder(store->get());
  recorder.SetJobs(&worker);
  auto req = MetadataRequest("stalled-2", AzureUri("media", "t.mp4"));
  media::MediaJob job = media::JobFor(v1::SET_BLOB_METADATA, req, req.blob_uri());
  std::promise<absl::StatusOr<media::OpRecorder::Begun>> p;
  recorder.BeginAsync(job.begin, [&p](absl::StatusOr<media::OpRecorder::Begun> b) { p.set_value(std::move(b)); });
  auto begun = p.get_future().get();
  ASSERT_TRUE(begun.ok()) << begun.status();
  const std::string name = begun->op.name();

  // Taken over while this holder is not renewing (the stall), then its
  // ticks resume and its heartbeat is refused.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  std::promise<absl::StatusOr<std::vector<core::Job>>> claimed;
  (*store)->jobs().Claim(media::kJobKind, "other-replica", 10, absl::Minutes(5),
                         [&claimed](absl::StatusOr<std::vector<core::Job>> r) { claimed.set_value(std::move(r)); });
  auto got = claimed.get_future().get();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  worker.Start();
  for (int i = 0; i < 200 && worker.Held(name).has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(worker.Held(name).has_value()) << "the refused heartbeat did not mark the lease lost";
  ASSERT_TRUE(worker.Fence(name).has_value()) << "a lost lease is still named for the late writes";

  auto late = recorder.Succeed(begun->op);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition) << late.status();
  auto now = recorder.Get(name);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->state(), v1::Operation::ACCEPTED) << "the stalled holder's outcome was written unfenced";
  EXPECT_FALSE(worker.Fence(name).has_value()) << "dropped once its write was refused";
  worker.Stop();
  (*store)->Close();
}

TEST(MediaJobs, APreviousReleasesPendingOperationsBecomeJobs) {
  TempDir dir;
  std::string uri = AzureUri("media", "old.mp4");
  {
    MediaServer first(nlohmann::json::object(), dir.path());
    ASSERT_TRUE(first.PutLocal("media", "old.mp4", "abc").ok());
  }
  v1::Operation accepted;
  auto req = MetadataRequest("old-1", uri);
  {
    // What the release before jobs left: the operation ACCEPTED, and its
    // request kept as a media_pending resource (no job).
    auto store = OpenServerStore(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    accepted = Accept(store->get(), nullptr, req, /*keep_request=*/false);
    core::Mutation m;
    m.writes.push_back({media::kPendingKind, accepted.name(), media::JobFor(v1::SET_BLOB_METADATA, req, uri).begin.request,
                        false});
    ASSERT_TRUE((*store)->Commit(std::move(m)).ok());
    (*store)->Close();
  }
  ASSERT_EQ(JobOf(dir.path(), accepted.name()).first, -1);
  {
    MediaServer second(nlohmann::json::object(), dir.path());
    v1::Operation done = second.WaitDone(accepted.name());
    EXPECT_EQ(done.state(), v1::Operation::SUCCEEDED);
    EXPECT_EQ(second.local().GetProperties({kAccount, "media", "old.mp4"})->metadata,
              (blob::Metadata{{"camera", "C3"}}));
    accepted = done;
  }
  EXPECT_EQ(JobOf(dir.path(), accepted.name()).first, static_cast<int>(core::JobState::kDone));
  {
    auto store = OpenServerStore(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    auto pending = (*store)->ListResources(media::kPendingKind, "", 10);
    ASSERT_TRUE(pending.ok());
    EXPECT_TRUE(pending->items.empty()) << "media_pending is left after the move";
    (*store)->Close();
  }
  // A third start runs nothing again.
  MediaServer third(nlohmann::json::object(), dir.path());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(third.GetOp(accepted.name()).last_sequence(), accepted.last_sequence()) << "the operation ran again";
}

}  // namespace
}  // namespace switchboard::testing
