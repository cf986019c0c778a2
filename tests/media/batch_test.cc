// SubmitBatch: many media requests in one call, each accepted or refused on
// its own, as its own RPC with return_when_accepted would be.
#include "tests/media/media_test_support.h"

namespace switchboard::testing {
namespace {

using v1::MediaService;

v1::MediaRequest Metadata(const std::string& id, const std::string& uri, const std::string& camera = "B2") {
  v1::MediaRequest item;
  auto* r = item.mutable_set_blob_metadata();
  r->set_request_id(id);
  *r->mutable_operation_context() = Context("ctx-" + id);
  r->set_blob_uri(uri);
  (*r->mutable_blob_metadata())["camera"] = camera;
  return item;
}

TEST(MediaBatch, EachRequestIsAcceptedOrRefusedOnItsOwnInOrder) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "abc").ok());
  ASSERT_TRUE(s.PutLocal("media", "b.mp4", "abcd").ok());
  v1::SubmitBatchRequest req;
  *req.add_requests() = Metadata("batch-a", AzureUri("media", "a.mp4"));
  auto bad = Metadata("batch-bad", AzureUri("media", "b.mp4"));
  (*bad.mutable_set_blob_metadata()->mutable_blob_metadata())["not an identifier"] = "x";
  *req.add_requests() = bad;
  req.add_requests();  // no request set
  auto* container = req.add_requests()->mutable_create_container();
  container->set_request_id("batch-container");
  container->set_storage_account_name(kAccount);
  container->set_container_name("fresh");
  *req.add_requests() = Metadata("batch-b", AzureUri("media", "b.mp4"), "C3");

  v1::SubmitBatchResponse resp;
  grpc::Status st = Call(&MediaService::Stub::SubmitBatch, s.stub(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.results_size(), 5);
  EXPECT_EQ(resp.results(0).operation().state(), v1::Operation::ACCEPTED);
  EXPECT_EQ(resp.results(0).operation().request_id(), "batch-a");
  EXPECT_GT(resp.results(0).operation().last_sequence(), 0) << "the acknowledge is durable at the answer";
  ASSERT_TRUE(resp.results(1).has_error());
  EXPECT_EQ(resp.results(1).error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_NE(resp.results(1).error().message().find("blob_metadata"), std::string::npos)
      << resp.results(1).error().message();
  ASSERT_TRUE(resp.results(2).has_error());
  EXPECT_NE(resp.results(2).error().message().find("requests[2]"), std::string::npos)
      << resp.results(2).error().message();
  EXPECT_EQ(resp.results(3).operation().type(), v1::CREATE_CONTAINER);
  EXPECT_EQ(resp.results(4).operation().request_id(), "batch-b");

  // Every accepted one runs to its outcome; the refused one left nothing.
  EXPECT_EQ(s.WaitDone(resp.results(0).operation().name()).state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(s.WaitDone(resp.results(3).operation().name()).state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(s.WaitDone(resp.results(4).operation().name()).state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(s.local().GetProperties({kAccount, "media", "a.mp4"})->metadata, (blob::Metadata{{"camera", "B2"}}));
  EXPECT_EQ(s.local().GetProperties({kAccount, "media", "b.mp4"})->metadata, (blob::Metadata{{"camera", "C3"}}));
  v1::ListOperationsRequest list;
  v1::ListOperationsResponse ops;
  ASSERT_TRUE(Call(&MediaService::Stub::ListOperations, s.stub(), list, &ops).ok());
  EXPECT_EQ(ops.operations_size(), 3);
}

TEST(MediaBatch, ARepeatedBatchIsTheSameOperationsAndOtherContentIsRefused) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "abc").ok());
  v1::SubmitBatchRequest req;
  *req.add_requests() = Metadata("again-1", AzureUri("media", "a.mp4"));
  v1::SubmitBatchResponse first, second;
  ASSERT_TRUE(Call(&MediaService::Stub::SubmitBatch, s.stub(), req, &first).ok());
  ASSERT_TRUE(first.results(0).has_operation());
  s.WaitDone(first.results(0).operation().name());
  *req.add_requests() = Metadata("again-1", AzureUri("media", "a.mp4"), "other content");
  ASSERT_TRUE(Call(&MediaService::Stub::SubmitBatch, s.stub(), req, &second).ok());
  ASSERT_EQ(second.results_size(), 2);
  EXPECT_EQ(second.results(0).operation().name(), first.results(0).operation().name());
  EXPECT_EQ(second.results(0).operation().state(), v1::Operation::SUCCEEDED) << "a repeat answers as it stands";
  EXPECT_EQ(second.results(1).error().code(), static_cast<int>(grpc::StatusCode::ALREADY_EXISTS));
}

TEST(MediaBatch, AnEmptyOrOversizedBatchIsRefusedWhole) {
  MediaServer s;
  v1::SubmitBatchRequest req;
  v1::SubmitBatchResponse resp;
  grpc::Status st = Call(&MediaService::Stub::SubmitBatch, s.stub(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("requests"), std::string::npos) << st.error_message();
  for (int i = 0; i < 1001; ++i) *req.add_requests() = Metadata("many-" + std::to_string(i), AzureUri("m", "x"));
  st = Call(&MediaService::Stub::SubmitBatch, s.stub(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("at most 1000"), std::string::npos) << st.error_message();
  v1::ListOperationsRequest list;
  v1::ListOperationsResponse ops;
  ASSERT_TRUE(Call(&MediaService::Stub::ListOperations, s.stub(), list, &ops).ok());
  EXPECT_EQ(ops.operations_size(), 0) << "nothing of a refused batch is recorded";
}

TEST(MediaBatch, EncodesAndStorageEventsAreRefusedAndTheRestAccepted) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "abc").ok());
  v1::SubmitBatchRequest req;
  v1::EncodeRequest* encode = req.add_requests()->mutable_encode();
  encode->set_request_id("batch-encode");
  encode->set_encoder(v1::FLIP);
  encode->add_input_uris(AzureUri("media", "a.mp4"));
  v1::ReportStorageEventRequest* storage = req.add_requests()->mutable_report_storage_event();
  storage->set_request_id("batch-storage");
  storage->mutable_event()->set_kind(v1::StorageEvent::BLOB_CREATED);
  storage->mutable_event()->set_blob_uri(AzureUri("media", "a.mp4"));
  *req.add_requests() = Metadata("batch-after", AzureUri("media", "a.mp4"));
  v1::SubmitBatchResponse resp;
  grpc::Status st = Call(&MediaService::Stub::SubmitBatch, s.stub(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.results_size(), 3);
  for (int i : {0, 1}) {
    ASSERT_TRUE(resp.results(i).has_error()) << i;
    EXPECT_EQ(resp.results(i).error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT)) << i;
  }
  EXPECT_NE(resp.results(0).error().message().find("requests[0].encode"), std::string::npos)
      << resp.results(0).error().message();
  EXPECT_NE(resp.results(0).error().message().find("call Encode"), std::string::npos);
  EXPECT_NE(resp.results(1).error().message().find("requests[1].report_storage_event"), std::string::npos)
      << resp.results(1).error().message();
  EXPECT_NE(resp.results(1).error().message().find("call ReportStorageEvent"), std::string::npos);
  ASSERT_TRUE(resp.results(2).has_operation());
  EXPECT_EQ(s.WaitDone(resp.results(2).operation().name()).state(), v1::Operation::SUCCEEDED);
  v1::ListOperationsRequest list;
  v1::ListOperationsResponse ops;
  ASSERT_TRUE(Call(&MediaService::Stub::ListOperations, s.stub(), list, &ops).ok());
  EXPECT_EQ(ops.operations_size(), 1) << "the refused encode recorded nothing";
}

}  // namespace
}  // namespace switchboard::testing
