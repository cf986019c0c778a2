// MediaService.WatchEventBatches through a real gRPC channel: every media
// event once, in log order, replay then live, several to a message when
// several are ready, resumable from any sequence, and the same bytes as
// WatchEvents sends one by one.

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using testing::NewRequestId;
using testing::PublishOk;
using testing::TempDir;
using testing::TestServer;

void Report(v1::MediaService::Stub& media, const std::string& blob) {
  grpc::ClientContext ctx;
  v1::ReportStorageEventRequest req;
  req.set_request_id(NewRequestId());
  req.mutable_event()->set_kind(v1::StorageEvent::BLOB_CREATED);
  req.mutable_event()->set_blob_uri("https://devstoreaccount1.blob.core.windows.net/media/" + blob);
  v1::StorageEvent got;
  grpc::Status s = media.ReportStorageEvent(&ctx, req, &got);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

std::unique_ptr<grpc::ClientReader<v1::MediaEventBatch>> WatchBatches(v1::MediaService::Stub& media,
                                                                      grpc::ClientContext* ctx, int64_t after) {
  v1::WatchEventsRequest req;
  req.set_after_sequence(after);
  return media.WatchEventBatches(ctx, req);
}

// Reads batches until `count` events came; the events, and how many
// messages brought them.
std::vector<v1::MediaEvent> ReadEvents(grpc::ClientReader<v1::MediaEventBatch>& reader, size_t count,
                                       int* messages) {
  std::vector<v1::MediaEvent> out;
  v1::MediaEventBatch batch;
  while (out.size() < count && reader.Read(&batch)) {
    EXPECT_GT(batch.events_size(), 0) << "a message of the stream holds at least one event";
    ++*messages;
    for (auto& e : *batch.mutable_events()) out.push_back(std::move(e));
  }
  return out;
}

TEST(WatchBatches, ReplaysInBatchesThenGoesLiveWithoutGapOrDuplicate) {
  TempDir dir;
  TestServer ts(dir.path());
  auto media = v1::MediaService::NewStub(ts.Channel());
  auto bus = ts.Notification();
  for (int i = 0; i < 300; ++i) {
    Report(*media, "pre-" + std::to_string(i));
    // Another service's events in between: not this watch's.
    if (i % 50 == 0) PublishOk(*bus, "between-" + std::to_string(i));
  }
  grpc::ClientContext ctx;
  auto reader = WatchBatches(*media, &ctx, 0);
  int messages = 0;
  std::vector<v1::MediaEvent> replayed = ReadEvents(*reader, 300, &messages);
  ASSERT_EQ(replayed.size(), 300u);
  EXPECT_LT(messages, 300) << "a replay of 300 ready events comes in fewer than 300 messages";
  for (size_t i = 0; i < replayed.size(); ++i) {
    EXPECT_EQ(replayed[i].storage().blob_uri(),
              "https://devstoreaccount1.blob.core.windows.net/media/pre-" + std::to_string(i));
    if (i > 0) EXPECT_GT(replayed[i].sequence(), replayed[i - 1].sequence()) << "log order";
  }

  std::thread writer([&] {
    for (int i = 0; i < 100; ++i) Report(*media, "live-" + std::to_string(i));
  });
  std::vector<v1::MediaEvent> live = ReadEvents(*reader, 100, &messages);
  writer.join();
  ASSERT_EQ(live.size(), 100u);
  EXPECT_GT(live.front().sequence(), replayed.back().sequence());
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(live[i].storage().blob_uri(),
              "https://devstoreaccount1.blob.core.windows.net/media/live-" + std::to_string(i))
        << "each live event once, in order";
  }
  ctx.TryCancel();
}

TEST(WatchBatches, ResumesAfterAnySequenceWithTheSameEventsAsWatchEvents) {
  TempDir dir;
  TestServer ts(dir.path());
  auto media = v1::MediaService::NewStub(ts.Channel());
  for (int i = 0; i < 40; ++i) Report(*media, "r-" + std::to_string(i));

  // Every event as WatchEvents sends it, one per message.
  std::vector<v1::MediaEvent> one_by_one;
  {
    grpc::ClientContext ctx;
    v1::WatchEventsRequest req;
    auto reader = media->WatchEvents(&ctx, req);
    v1::MediaEvent e;
    while (one_by_one.size() < 40 && reader->Read(&e)) one_by_one.push_back(e);
    ctx.TryCancel();
  }
  ASSERT_EQ(one_by_one.size(), 40u);

  const int64_t after = one_by_one[24].sequence();
  grpc::ClientContext ctx;
  auto reader = WatchBatches(*media, &ctx, after);
  int messages = 0;
  std::vector<v1::MediaEvent> batched = ReadEvents(*reader, 15, &messages);
  ctx.TryCancel();
  ASSERT_EQ(batched.size(), 15u);
  for (size_t i = 0; i < batched.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(batched[i], one_by_one[25 + i]))
        << "event " << i << " after " << after << ":\n"
        << batched[i].DebugString() << "\nagainst\n"
        << one_by_one[25 + i].DebugString();
  }
}

TEST(WatchBatches, RejectsABadAfterSequenceAsWatchEventsDoes) {
  TempDir dir;
  TestServer ts(dir.path());
  auto media = v1::MediaService::NewStub(ts.Channel());
  Report(*media, "only");
  grpc::ClientContext ctx;
  auto reader = WatchBatches(*media, &ctx, -1);
  v1::MediaEventBatch batch;
  EXPECT_FALSE(reader->Read(&batch));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("after_sequence"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace switchboard
