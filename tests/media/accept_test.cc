// return_when_accepted: the answer comes at ACCEPTED and the outcome follows
// in the log; an accepted operation that a restart interrupted runs at the
// next start (media_pending), or fails naming why it cannot.
#include <future>

#include "server/core/store.h"
#include "server/media/log_events.h"
#include "server/media/media_job.h"
#include "server/media/op_recorder.h"
#include "tests/media/media_test_support.h"
#include "tests/core/store_jobs.h"

namespace switchboard::testing {
namespace {

using v1::MediaService;

v1::SetBlobMetadataRequest MetadataRequest(const std::string& id, const std::string& uri) {
  return BlobMetadataRequest(id, uri, "B2");
}

// Records `req` as ACCEPTED and pending, as switchboardd does just before a
// crash that leaves its work undone.
template <class Req>
v1::Operation AcceptWithoutRunning(const std::string& data_dir, const Req& req, v1::OperationType type,
                                   const std::string& target) {
  auto store = OpenServerStore(data_dir);
  EXPECT_TRUE(store.ok()) << store.status();
  media::OpRecorder recorder(store->get());
  media::MediaJob job = media::JobFor(type, req, target);
  std::promise<absl::StatusOr<media::OpRecorder::Begun>> p;
  recorder.BeginAsync(job.begin, [&p](absl::StatusOr<media::OpRecorder::Begun> b) { p.set_value(std::move(b)); });
  auto begun = p.get_future().get();
  EXPECT_TRUE(begun.ok()) << begun.status();
  (*store)->Close();
  return begun.ok() ? begun->op : v1::Operation();
}
v1::Operation AcceptWithoutRunning(const std::string& data_dir, const v1::SetBlobMetadataRequest& req) {
  return AcceptWithoutRunning(data_dir, req, v1::SET_BLOB_METADATA, req.blob_uri());
}

TEST(MediaAccept, ReturnWhenAcceptedAnswersAtAcceptedAndTheOutcomeFollows) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "abc").ok());
  auto req = MetadataRequest("early-1", AzureUri("media", "a.mp4"));
  req.set_return_when_accepted(true);
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), req, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::ACCEPTED);
  EXPECT_GT(op.last_sequence(), 0) << "the acknowledge is in the log when the answer comes";

  v1::Operation done = s.WaitDone(op.name());
  EXPECT_EQ(done.state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(s.local().GetProperties({kAccount, "media", "a.mp4"})->metadata, (blob::Metadata{{"camera", "B2"}}));
  auto events = s.Events(op.name(), done.last_sequence());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].has_acknowledged());
  EXPECT_TRUE(events[1].has_succeeded());

  // The flag is not part of the request's identity: the same request_id
  // without it is the same operation, not ALREADY_EXISTS.
  req.set_return_when_accepted(false);
  v1::Operation again;
  ASSERT_TRUE(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), req, &again).ok());
  EXPECT_EQ(again.name(), op.name());
  EXPECT_EQ(again.state(), v1::Operation::SUCCEEDED);
}

TEST(MediaAccept, ReturnWhenAcceptedStillRefusesBadInputUpFront) {
  MediaServer s;
  auto req = MetadataRequest("early-bad", AzureUri("media", "a.mp4"));
  (*req.mutable_blob_metadata())["not a C# identifier"] = "x";
  req.set_return_when_accepted(true);
  v1::Operation op;
  grpc::Status st = Call(&MediaService::Stub::SetBlobMetadata, s.stub(), req, &op);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("blob_metadata"), std::string::npos) << st.error_message();
  // A failing outcome (missing blob) is accepted, then FAILED in the log.
  req = MetadataRequest("early-missing", AzureUri("media", "missing.mp4"));
  req.set_return_when_accepted(true);
  ASSERT_TRUE(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), req, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::ACCEPTED);
  v1::Operation done = s.WaitDone(op.name());
  EXPECT_EQ(done.state(), v1::Operation::FAILED);
  EXPECT_EQ(done.failure().log_event_id(), media::log_events::kMetadataFailed.id);
}

TEST(MediaAccept, AnOperationARestartInterruptedRunsAtTheNextStart) {
  TempDir dir;
  std::string uri = AzureUri("media", "b.mp4");
  v1::Operation accepted;
  {
    MediaServer first(nlohmann::json::object(), dir.path());
    ASSERT_TRUE(first.PutLocal("media", "b.mp4", "abc", {{"old", "1"}}).ok());
  }
  accepted = AcceptWithoutRunning(dir.path(), MetadataRequest("resume-1", uri));
  ASSERT_EQ(accepted.state(), v1::Operation::ACCEPTED);
  {
    MediaServer second(nlohmann::json::object(), dir.path());
    v1::Operation done = second.WaitDone(accepted.name());
    EXPECT_EQ(done.state(), v1::Operation::SUCCEEDED);
    EXPECT_EQ(second.local().GetProperties({kAccount, "media", "b.mp4"})->metadata,
              (blob::Metadata{{"camera", "B2"}}));
    auto events = second.Events(accepted.name(), done.last_sequence());
    ASSERT_EQ(events.size(), 2u);
    EXPECT_TRUE(events[0].has_acknowledged());
    EXPECT_TRUE(events[1].has_succeeded());
    EXPECT_EQ(events[1].operation_context().fields().at("traceId").string_value(), "ctx-resume-1");
    accepted = done;
  }
  {
    // Finished operations are no longer pending: a third start runs nothing.
    MediaServer third(nlohmann::json::object(), dir.path());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    v1::Operation now = third.GetOp(accepted.name());
    EXPECT_EQ(now.state(), v1::Operation::SUCCEEDED);
    EXPECT_EQ(now.last_sequence(), accepted.last_sequence()) << "the operation ran again";
  }
}

TEST(MediaAccept, AnInterruptedOperationThatNoLongerValidatesFailsNamingWhy) {
  TempDir dir;
  { MediaServer first(nlohmann::json::object(), dir.path()); }
  // An account this server does not have (e.g. removed from the config).
  auto req = MetadataRequest("resume-gone", "https://goneaccount.blob.core.windows.net/media/c.mp4");
  v1::Operation accepted = AcceptWithoutRunning(dir.path(), req);
  MediaServer second(nlohmann::json::object(), dir.path());
  v1::Operation done = second.WaitDone(accepted.name());
  EXPECT_EQ(done.state(), v1::Operation::FAILED);
  EXPECT_EQ(done.failure().log_event_id(), media::log_events::kResumeFailed.id);
  EXPECT_NE(done.failure().log_event_message().find("goneaccount"), std::string::npos)
      << done.failure().log_event_message();
}

TEST(MediaAccept, AResumedContainerCreateOrDeleteTakesWhatTheInterruptedAttemptDidForDone) {
  TempDir dir;
  { MediaServer first(nlohmann::json::object(), dir.path()); }
  // Killed after Azure created (or deleted) the container, before the
  // outcome was recorded: the resume finds it done, and succeeds.
  v1::CreateContainerRequest create;
  create.set_request_id("resume-create");
  create.set_storage_account_name(kAccount);
  create.set_container_name("made");
  v1::Operation created = AcceptWithoutRunning(dir.path(), create, v1::CREATE_CONTAINER, "made");
  v1::DeleteContainerRequest del;
  del.set_request_id("resume-delete");
  del.set_storage_account_name(kAccount);
  del.set_container_name("gone");
  v1::Operation deleted = AcceptWithoutRunning(dir.path(), del, v1::DELETE_CONTAINER, "gone");
  {
    // What the killed attempt did: "made" exists, "gone" does not.
    blob::LocalBlobStoreOptions o;
    o.root = dir.path() + "/blobs";
    auto local = blob::LocalBlobStore::Open(o);
    ASSERT_TRUE(local.ok()) << local.status();
    ASSERT_TRUE((*local)->CreateContainer(kAccount, "made").ok());
    ASSERT_FALSE(*(*local)->ContainerExists(kAccount, "gone"));
  }
  MediaServer second(nlohmann::json::object(), dir.path());
  EXPECT_EQ(second.WaitDone(created.name()).state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(second.WaitDone(deleted.name()).state(), v1::Operation::SUCCEEDED);
  EXPECT_TRUE(*second.local().ContainerExists(kAccount, "made"));
}

}  // namespace
}  // namespace switchboard::testing
