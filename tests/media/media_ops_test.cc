// The media blob operations through gRPC against a real in-process server
// and its local store (and Azurite where named).
#include <set>

#include "common/azure/sas.h"
#include "common/azure/url.h"
#include "wire/eventgrid.h"
#include "server/media/log_events.h"
#include "tests/media/media_test_support.h"

namespace switchboard::testing {
namespace {

using v1::MediaService;

TEST(MediaLogEvents, IdsAreUniqueAndFollowTheScheme) {
  std::set<int> seen;
  for (const auto& e : media::AllLogEventIds()) {
    EXPECT_TRUE(seen.insert(e.id).second) << "duplicate logEventId " << e.id << " (" << e.name << ")";
    int level = e.id / 100000;
    EXPECT_GE(level, 1) << e.name;
    EXPECT_LE(level, 4) << e.name;
    EXPECT_GE(e.id % 1000, 1) << e.name;
  }
  EXPECT_GE(seen.size(), 10u);
  auto f = media::MakeFailure(media::log_events::kCopyFailed, absl::NotFoundError("gone"));
  auto g = media::MakeFailure(media::log_events::kCopyFailed, absl::NotFoundError("gone"));
  EXPECT_NE(f.log_record_id(), g.log_record_id());
  EXPECT_EQ(f.handler_id(), g.handler_id());
  EXPECT_EQ(f.code(), "NOT_FOUND");
  EXPECT_EQ(f.event_handler_class_name(), "BlobCopyHandler");
  // The Event Grid codec reports request decoding failures under the same
  // ids as the table.
  EXPECT_EQ(wire::kLogRequestInvalid, media::log_events::kRequestInvalid.id);
  EXPECT_EQ(wire::kLogRequestUnknownType, media::log_events::kRequestUnknownType.id);
}

TEST(MediaOps, ContainersCreateChangeAccessDelete) {
  MediaServer s;
  v1::Operation op;
  v1::CreateContainerRequest c;
  c.set_request_id("c1");
  *c.mutable_operation_context() = Context("ctx-c");
  c.set_storage_account_name(kAccount);
  c.set_container_name("inbox");
  ASSERT_TRUE(Call(&MediaService::Stub::CreateContainer, s.stub(), c, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::SUCCEEDED);
  EXPECT_TRUE(*s.local().ContainerExists(kAccount, "inbox"));
  // The same request again is a replay: same operation, nothing redone.
  v1::Operation again;
  ASSERT_TRUE(Call(&MediaService::Stub::CreateContainer, s.stub(), c, &again).ok());
  EXPECT_EQ(again.name(), op.name());
  EXPECT_EQ(again.state(), v1::Operation::SUCCEEDED);
  // A second create with a new request id fails: it exists.
  c.set_request_id("c2");
  ASSERT_TRUE(Call(&MediaService::Stub::CreateContainer, s.stub(), c, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::FAILED);
  EXPECT_EQ(op.failure().log_event_id(), media::log_events::kContainerCreateFailed.id);
  EXPECT_EQ(op.failure().code(), "ALREADY_EXISTS");

  v1::ChangeContainerAccessRequest a;
  a.set_storage_account_name(kAccount);
  a.set_container_name("inbox");
  a.set_access(v1::BLOB_CONTAINER);
  ASSERT_TRUE(Call(&MediaService::Stub::ChangeContainerAccess, s.stub(), a, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(*s.local().GetContainerAccess(kAccount, "inbox"), blob::Access::kContainer);

  v1::DeleteContainerRequest d;
  d.set_storage_account_name(kAccount);
  d.set_container_name("inbox");
  ASSERT_TRUE(Call(&MediaService::Stub::DeleteContainer, s.stub(), d, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::SUCCEEDED);
  EXPECT_FALSE(*s.local().ContainerExists(kAccount, "inbox"));
}

TEST(MediaOps, SetBlobMetadataSucceedsAndFailsOnMissingBlob) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "abc", {{"old", "1"}}).ok());
  v1::SetBlobMetadataRequest r;
  r.set_request_id("m1");
  *r.mutable_operation_context() = Context("ctx-m");
  r.set_blob_uri(AzureUri("media", "a.mp4"));
  (*r.mutable_blob_metadata())["camera"] = "A7";
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), r, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(op.blob().metadata().at("camera"), "A7");
  EXPECT_EQ(s.local().GetProperties({kAccount, "media", "a.mp4"})->metadata, (blob::Metadata{{"camera", "A7"}}));
  // Events: acknowledge, then succeeded, both with the context.
  auto events = s.Events(op.name(), op.last_sequence());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].has_acknowledged());
  EXPECT_TRUE(events[1].has_succeeded());
  for (const auto& e : events) EXPECT_EQ(e.operation_context().fields().at("traceId").string_value(), "ctx-m");

  r.set_request_id("m2");
  r.set_blob_uri(AzureUri("media", "missing.mp4"));
  ASSERT_TRUE(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), r, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::FAILED);
  EXPECT_EQ(op.failure().log_event_id(), media::log_events::kMetadataFailed.id);
  EXPECT_EQ(op.failure().event_handler_class_name(), "BlobMetadataCreateHandler");
  EXPECT_FALSE(op.failure().log_record_id().empty());
  EXPECT_NE(op.failure().log_event_message().find("missing.mp4"), std::string::npos);
}

TEST(MediaOps, CopyAndDeleteEventsCarryTheOperationContext) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("src", "clip.mp4", "0123456789", {{"origin", "cam"}}).ok());
  v1::CopyBlobRequest c;
  c.set_request_id("copy-1");
  *c.mutable_operation_context() = Context("ctx-copy");
  c.set_source_uri(AzureUri("src", "clip.mp4"));
  c.set_destination_uri(AzureUri("dst-new", "copies/clip.mp4"));
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::CopyBlob, s.stub(), c, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::SCHEDULED);
  EXPECT_EQ(op.blob_metadata().at("origin"), "cam");
  op = s.WaitDone(op.name());
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED);
  auto events = s.Events(op.name(), op.last_sequence());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0].has_acknowledged());
  EXPECT_TRUE(events[1].has_scheduled());
  ASSERT_TRUE(events[2].has_storage());
  EXPECT_EQ(events[2].storage().kind(), v1::StorageEvent::BLOB_CREATED);
  EXPECT_EQ(events[2].storage().blob_uri(), c.destination_uri());
  EXPECT_EQ(events[2].storage().content_length(), 10);
  EXPECT_EQ(events[2].operation_context().fields().at("traceId").string_value(), "ctx-copy");
  EXPECT_NE(events[2].storage().client_request_id().find("ctx-copy"), std::string::npos);
  // The destination container was created, and the bytes are there.
  auto props = s.local().GetProperties({kAccount, "dst-new", "copies/clip.mp4"});
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->size, 10);

  v1::DeleteBlobRequest d;
  d.set_request_id("del-1");
  *d.mutable_operation_context() = Context("ctx-del");
  d.set_blob_uri(AzureUri("src", "clip.mp4"));
  ASSERT_TRUE(Call(&MediaService::Stub::DeleteBlob, s.stub(), d, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::SCHEDULED);
  EXPECT_EQ(op.blob_metadata().at("origin"), "cam");
  op = s.WaitDone(op.name());
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED);
  events = s.Events(op.name(), op.last_sequence());
  ASSERT_EQ(events.size(), 3u);
  ASSERT_TRUE(events[2].has_storage());
  EXPECT_EQ(events[2].storage().kind(), v1::StorageEvent::BLOB_DELETED);
  EXPECT_EQ(events[2].operation_context().fields().at("traceId").string_value(), "ctx-del");
  EXPECT_EQ(s.local().GetProperties({kAccount, "src", "clip.mp4"}).status().code(), absl::StatusCode::kNotFound);

  // Deleting it again: a failure, not a schedule.
  d.set_request_id("del-2");
  ASSERT_TRUE(Call(&MediaService::Stub::DeleteBlob, s.stub(), d, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::FAILED);
  EXPECT_EQ(op.failure().log_event_id(), media::log_events::kDeleteFailed.id);
}

TEST(MediaOps, SasUrlIsSignedWithKey1AndRollingKey1InvalidatesIt) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "abc").ok());
  v1::CreateSasUrlRequest r;
  r.set_blob_uri(AzureUri("media", "a.mp4"));
  r.set_sec_to_live(60);
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::CreateSasUrl, s.stub(), r, &op).ok());
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED);
  const std::string& url = op.sas_url();
  EXPECT_EQ(url.rfind(absl::StrCat("http://", s.http(), "/", kAccount, "/media/a.mp4?"), 0), 0u) << url;
  auto q = azure::ParseQuery(url.substr(url.find('?') + 1));
  EXPECT_EQ(q.at("sp"), "r");
  absl::Time st;
  ASSERT_TRUE(azure::ParseIso8601(q.at("st"), &st));
  EXPECT_LT(st, absl::Now() - absl::Minutes(4));  // backdated 5 minutes
  auto keys = [&] {
    return std::vector<std::string>{*s.local().AccountKey(kAccount, "key1"), *s.local().AccountKey(kAccount, "key2")};
  };
  EXPECT_TRUE(azure::VerifyBlobSas(q, kAccount, "media", "a.mp4", 'r', keys(), absl::Now()).ok());

  v1::RollStorageKeyRequest roll;
  roll.set_account(kAccount);
  roll.set_key_name("key1");
  ASSERT_TRUE(Call(&MediaService::Stub::RollStorageKey, s.stub(), roll, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::SUCCEEDED);
  EXPECT_FALSE(op.has_operation_context());
  auto events = s.Events(op.name(), op.last_sequence());
  ASSERT_EQ(events.size(), 1u);  // no acknowledge for key rolls
  EXPECT_TRUE(events[0].has_succeeded());
  EXPECT_EQ(azure::VerifyBlobSas(q, kAccount, "media", "a.mp4", 'r', keys(), absl::Now()).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(MediaOps, TierChangeArchivesAndRehydratesAfterTheConfiguredDelay) {
  MediaServer s(nlohmann::json{{"rehydrate_standard_seconds", 1.0}, {"rehydrate_high_seconds", 0.5}});
  ASSERT_TRUE(s.PutLocal("media", "t.bin", "tiered").ok());
  v1::ChangeBlobTierRequest r;
  r.set_blob_uri(AzureUri("media", "t.bin"));
  r.set_access_tier(v1::ARCHIVE);
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::ChangeBlobTier, s.stub(), r, &op).ok());
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(op.blob().access_tier(), v1::ARCHIVE);
  std::string out;
  auto read = [&] {
    out.clear();
    return s.local().Read({kAccount, "media", "t.bin"}, 0, -1, [&](absl::string_view p) {
      out.append(p.data(), p.size());
      return true;
    });
  };
  EXPECT_EQ(read().code(), absl::StatusCode::kFailedPrecondition);
  r.set_access_tier(v1::HOT);
  r.set_rehydrate_priority(v1::HIGH);
  ASSERT_TRUE(Call(&MediaService::Stub::ChangeBlobTier, s.stub(), r, &op).ok());
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED);
  EXPECT_TRUE(op.blob().rehydrating());
  EXPECT_EQ(read().code(), absl::StatusCode::kFailedPrecondition);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_TRUE(read().ok());
  EXPECT_EQ(out, "tiered");
}

TEST(MediaOps, RollStorageKeyAgainstAzuriteIsFailedPrecondition) {
  MediaServer s(nlohmann::json{{"local_accounts", nlohmann::json::array()},
                               {"azure_accounts", {AzuriteAccountJson(kAccount)}}});
  v1::RollStorageKeyRequest roll;
  roll.set_account(kAccount);
  roll.set_key_name("key2");
  v1::Operation op;
  grpc::Status st = Call(&MediaService::Stub::RollStorageKey, s.stub(), roll, &op);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("cannot be rolled"), std::string::npos) << st.error_message();
  v1::ListOperationsRequest list;
  list.set_type(v1::ROLL_STORAGE_KEY);
  v1::ListOperationsResponse ops;
  ASSERT_TRUE(Call(&MediaService::Stub::ListOperations, s.stub(), list, &ops).ok());
  ASSERT_EQ(ops.operations_size(), 1);
  EXPECT_EQ(ops.operations(0).state(), v1::Operation::FAILED);
  EXPECT_EQ(ops.operations(0).failure().log_event_id(), media::log_events::kRollKeyFailed.id);
}

TEST(MediaOps, BadInputIsInvalidArgumentNamingTheFieldAndChangesNothing) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "abc", {{"keep", "1"}}).ok());
  auto expect_invalid = [](const grpc::Status& st, const std::string& field) {
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_NE(st.error_message().find(field), std::string::npos) << st.error_message();
  };
  v1::Operation op;
  v1::SetBlobMetadataRequest m;
  (*m.mutable_blob_metadata())["ok"] = "1";
  for (const char* uri : {"https://otheraccount.blob.core.windows.net/media/a.mp4",
                          "https://example.com/devstoreaccount1/media/a.mp4",
                          "https://devstoreaccount1.blob.core.windows.net/media/x/../a.mp4",
                          "https://devstoreaccount1.blob.core.windows.net/media//a.mp4",
                          "https://devstoreaccount1.blob.core.windows.net/Bad_Container/a.mp4", "ftp://x/y", ""}) {
    m.set_blob_uri(uri);
    expect_invalid(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), m, &op), "blob_uri");
  }
  m.set_blob_uri(AzureUri("media", "a.mp4"));
  m.mutable_blob_metadata()->clear();
  (*m.mutable_blob_metadata())["big"] = std::string(9000, 'x');
  expect_invalid(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), m, &op), "blob_metadata");
  m.mutable_blob_metadata()->clear();
  (*m.mutable_blob_metadata())["not-an-identifier"] = "x";
  expect_invalid(Call(&MediaService::Stub::SetBlobMetadata, s.stub(), m, &op), "blob_metadata");

  v1::CreateSasUrlRequest sas;
  sas.set_blob_uri(AzureUri("media", "a.mp4"));
  for (int64_t ttl : {int64_t{0}, int64_t{-5}, int64_t{604801}}) {
    sas.set_sec_to_live(ttl);
    expect_invalid(Call(&MediaService::Stub::CreateSasUrl, s.stub(), sas, &op), "sec_to_live");
  }
  v1::ChangeBlobTierRequest tier;
  tier.set_blob_uri(AzureUri("media", "a.mp4"));
  tier.set_access_tier(static_cast<v1::AccessTier>(42));
  expect_invalid(Call(&MediaService::Stub::ChangeBlobTier, s.stub(), tier, &op), "access_tier");
  tier.set_access_tier(v1::ACCESS_TIER_UNSPECIFIED);
  expect_invalid(Call(&MediaService::Stub::ChangeBlobTier, s.stub(), tier, &op), "access_tier");

  v1::ChangeContainerAccessRequest acc;
  acc.set_storage_account_name(kAccount);
  acc.set_container_name("media");
  acc.set_access(v1::CONTAINER_ACCESS_UNSPECIFIED);
  expect_invalid(Call(&MediaService::Stub::ChangeContainerAccess, s.stub(), acc, &op), "access");
  v1::CreateContainerRequest cc;
  cc.set_storage_account_name(kAccount);
  for (const char* bad : {"ab", "a--b", "-ab", "UPPER", "a_b"}) {
    cc.set_container_name(bad);
    expect_invalid(Call(&MediaService::Stub::CreateContainer, s.stub(), cc, &op), "container_name");
  }
  cc.set_storage_account_name("nosuchaccount");
  cc.set_container_name("fine");
  expect_invalid(Call(&MediaService::Stub::CreateContainer, s.stub(), cc, &op), "storage_account_name");
  v1::RollStorageKeyRequest roll;
  roll.set_account(kAccount);
  roll.set_key_name("key3");
  expect_invalid(Call(&MediaService::Stub::RollStorageKey, s.stub(), roll, &op), "key_name");

  // Nothing was recorded or changed.
  v1::ListOperationsResponse ops;
  ASSERT_TRUE(Call(&MediaService::Stub::ListOperations, s.stub(), v1::ListOperationsRequest(), &ops).ok());
  EXPECT_EQ(ops.operations_size(), 0);
  EXPECT_EQ(s.local().GetProperties({kAccount, "media", "a.mp4"})->metadata, (blob::Metadata{{"keep", "1"}}));
  EXPECT_FALSE(*s.local().ContainerExists(kAccount, "fine"));
}

TEST(MediaOps, ListBlobsAndLocalUrisResolve) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "b.mp4", "bb").ok());
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "a").ok());
  v1::ListBlobsRequest r;
  // The listener's own address works as well as Azure's form.
  r.set_container_uri(absl::StrCat("http://", s.http(), "/", kAccount, "/media/"));
  v1::ListBlobsResponse resp;
  grpc::Status st = Call(&MediaService::Stub::ListBlobs, s.stub(), r, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.blobs_size(), 2);
  EXPECT_EQ(resp.blobs(0).blob_uri(), absl::StrCat(r.container_uri(), "a.mp4"));
  EXPECT_EQ(resp.blobs(1).size(), 2);
}

}  // namespace
}  // namespace switchboard::testing
