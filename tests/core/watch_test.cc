// Watches through a real gRPC channel: replay then live with no gap or
// duplicate, reconnect from a sequence, a slow watcher, bad after_sequence.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "server/rpc/watch_stream.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using testing::Envelope;
using testing::PublishOk;
using testing::TempDir;
using testing::TestServer;

std::unique_ptr<grpc::ClientReader<v1::NotificationEvent>> Watch(v1::NotificationService::Stub& stub,
                                                                 grpc::ClientContext* ctx, int64_t after) {
  v1::WatchEventsRequest req;
  req.set_after_sequence(after);
  return stub.WatchEvents(ctx, req);
}

TEST(Watch, ReplaysThenGoesLiveWithoutGapOrDuplicate) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  for (int i = 1; i <= 5; ++i) PublishOk(*stub, "pre-" + std::to_string(i));

  grpc::ClientContext ctx;
  auto reader = Watch(*stub, &ctx, 0);
  // Publish concurrently while the watch replays and switches to live.
  std::thread writer([&] {
    for (int i = 1; i <= 300; ++i) PublishOk(*stub, "live-" + std::to_string(i));
  });
  v1::NotificationEvent ev;
  int64_t expect = 1;
  while (expect <= 305 && reader->Read(&ev)) {
    ASSERT_EQ(ev.sequence(), expect) << "events must arrive in log order, each once";
    ASSERT_TRUE(ev.has_bus_event());
    ASSERT_TRUE(ev.has_create_time());
    ++expect;
  }
  writer.join();
  EXPECT_EQ(expect, 306);
  ctx.TryCancel();
}

TEST(Watch, ReconnectFromASequenceContinuesExactly) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  for (int i = 1; i <= 10; ++i) PublishOk(*stub, "e" + std::to_string(i));
  grpc::ClientContext ctx;
  auto reader = Watch(*stub, &ctx, 7);
  v1::NotificationEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.sequence(), 8);
  EXPECT_EQ(ev.bus_event().envelope().event_uuid(), "e8");
  EXPECT_EQ(ev.request_id(), "e8") << "the event carries the request_id (the event_uuid) that caused it";
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.sequence(), 9);
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.sequence(), 10);
  PublishOk(*stub, "e11");
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.sequence(), 11);
  ctx.TryCancel();
}

TEST(Watch, ReplayFromStoreBeyondTheRing) {
  TempDir dir;
  core::ServerConfig cfg;
  cfg.watch_ring_capacity = 16;  // force replay through the store
  TestServer ts(dir.path(), cfg);
  auto stub = ts.Notification();
  for (int i = 1; i <= 700; ++i) PublishOk(*stub, "s" + std::to_string(i));
  grpc::ClientContext ctx;
  auto reader = Watch(*stub, &ctx, 0);
  v1::NotificationEvent ev;
  for (int64_t expect = 1; expect <= 700; ++expect) {
    ASSERT_TRUE(reader->Read(&ev));
    ASSERT_EQ(ev.sequence(), expect);
  }
  ctx.TryCancel();
}

TEST(Watch, SlowWatcherGetsAResumableErrorAndResumesWithoutGap) {
  TempDir dir;
  core::ServerConfig cfg;
  cfg.watch_max_lag = 50;
  cfg.watch_ring_capacity = 64;
  TestServer ts(dir.path(), cfg);
  auto stub = ts.Notification();
  PublishOk(*stub, "first");

  grpc::ClientContext ctx;
  auto reader = Watch(*stub, &ctx, 0);
  v1::NotificationEvent ev;
  ASSERT_TRUE(reader->Read(&ev));  // live now, at sequence 1
  // The client stops reading while 400 large events commit: far more than
  // HTTP/2 flow control lets the server push into a client that reads
  // nothing, so the server-side watcher falls behind.
  const std::string big(48 * 1024, 'x');
  for (int i = 0; i < 400; ++i) {
    grpc::ClientContext pctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("burst-" + std::to_string(i));
    (*req.mutable_envelope()->mutable_data()->mutable_fields())["blob"].set_string_value(big);
    v1::PublishResponse resp;
    ASSERT_TRUE(stub->Publish(&pctx, req, &resp).ok());
  }
  int64_t last = ev.sequence();
  while (reader->Read(&ev)) {
    ASSERT_EQ(ev.sequence(), last + 1);
    last = ev.sequence();
  }
  grpc::Status status = reader->Finish();
  ASSERT_EQ(status.error_code(), grpc::StatusCode::ABORTED) << status.error_message();
  EXPECT_NE(status.error_message().find("after_sequence="), std::string::npos);
  auto trailer = ctx.GetServerTrailingMetadata().find(rpc::kResumeAfterTrailer);
  ASSERT_NE(trailer, ctx.GetServerTrailingMetadata().end());
  int64_t resume = std::stoll(std::string(trailer->second.data(), trailer->second.size()));
  EXPECT_EQ(resume, last) << "the resume point is the last event delivered";

  grpc::ClientContext ctx2;
  auto reader2 = Watch(*stub, &ctx2, resume);
  for (int64_t expect = resume + 1; expect <= 401; ++expect) {
    ASSERT_TRUE(reader2->Read(&ev));
    ASSERT_EQ(ev.sequence(), expect);
  }
  ctx2.TryCancel();
}

TEST(Watch, RejectsNegativeAndFutureAfterSequence) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  PublishOk(*stub, "only");
  {
    grpc::ClientContext ctx;
    auto reader = Watch(*stub, &ctx, -1);
    v1::NotificationEvent ev;
    EXPECT_FALSE(reader->Read(&ev));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("after_sequence"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    auto reader = Watch(*stub, &ctx, 99);
    v1::NotificationEvent ev;
    EXPECT_FALSE(reader->Read(&ev));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
    EXPECT_NE(s.error_message().find("head of the log (1)"), std::string::npos);
  }
}

TEST(Watch, FiltersByServiceAndKind) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  PublishOk(*stub, "n1");
  // Nothing of this service or kind exists: the watch waits, then is
  // cancelled by its deadline without having sent anything.
  auto media = v1::MediaService::NewStub(ts.Channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  v1::WatchEventsRequest req;
  auto reader = media->WatchEvents(&ctx, req);
  v1::MediaEvent ev;
  EXPECT_FALSE(reader->Read(&ev));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  v1::WatchApplicationsRequest apps;
  auto app_reader = stub->WatchApplications(&ctx2, apps);
  v1::NotificationEvent nev;
  EXPECT_FALSE(app_reader->Read(&nev)) << "bus events are not application events";
}

TEST(Watch, ShutdownEndsWatchesWithAResumePoint) {
  TempDir dir;
  auto ts = std::make_unique<TestServer>(dir.path());
  auto stub = ts->Notification();
  PublishOk(*stub, "x");
  grpc::ClientContext ctx;
  auto reader = Watch(*stub, &ctx, 0);
  v1::NotificationEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  std::thread stopper([&] { ts->Shutdown(); });
  EXPECT_FALSE(reader->Read(&ev));
  grpc::Status s = reader->Finish();
  stopper.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("after_sequence=1"), std::string::npos);
}

}  // namespace
}  // namespace switchboard
