// WatchMany: many watches over one bidirectional stream, each with its own
// position and resource, each getting its events exactly once and in order;
// cancel and refused adds end one watch, never the stream.

#include <gtest/gtest.h>

#include <map>
#include <thread>
#include <vector>

#include "server/rpc/multi_watch.h"
#include "switchboard/v1/notification.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using testing::PublishOk;
using testing::TempDir;
using testing::TestServer;
using Stream = grpc::ClientReaderWriter<v1::WatchManyRequest, v1::NotificationWatchManyResponse>;

void Add(Stream& s, int64_t id, int64_t after, const std::string& resource = "") {
  v1::WatchManyRequest req;
  req.mutable_add()->set_watch_id(id);
  req.mutable_add()->set_after_sequence(after);
  req.mutable_add()->set_resource(resource);
  ASSERT_TRUE(s.Write(req));
}

void Cancel(Stream& s, int64_t id) {
  v1::WatchManyRequest req;
  req.mutable_cancel()->set_watch_id(id);
  ASSERT_TRUE(s.Write(req));
}

// Reads until `done(got)`; `got` maps watch id -> sequences received.
void ReadUntil(Stream& s, std::map<int64_t, std::vector<int64_t>>* got,
               const std::function<bool()>& done, std::vector<v1::NotificationWatchManyResponse>* ended = nullptr) {
  v1::NotificationWatchManyResponse m;
  while (!done() && s.Read(&m)) {
    if (m.has_ended()) {
      ASSERT_NE(ended, nullptr) << "unexpected end: " << m.ended().message();
      ended->push_back(m);
      continue;
    }
    ASSERT_TRUE(m.has_event());
    ASSERT_GT(m.watch_ids_size(), 0);
    for (int64_t id : m.watch_ids()) (*got)[id].push_back(m.event().sequence());
  }
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t i = from; i <= to; ++i) v.push_back(i);
  return v;
}

TEST(WatchMany, EachWatchGetsItsOwnEventsOnceInOrderReplayThenLive) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  for (int i = 1; i <= 5; ++i) PublishOk(*stub, "pre-" + std::to_string(i));

  grpc::ClientContext ctx;
  auto stream = stub->WatchMany(&ctx);
  Add(*stream, 1, 0);                       // everything
  Add(*stream, 2, 3);                       // after 3
  Add(*stream, 3, 0, "busEvents/live-50");  // one resource
  std::thread writer([&] {
    for (int i = 1; i <= 100; ++i) PublishOk(*stub, "live-" + std::to_string(i));
  });
  std::map<int64_t, std::vector<int64_t>> got;
  ReadUntil(*stream, &got, [&] { return got[1].size() >= 105 && got[2].size() >= 102 && got[3].size() >= 1; });
  writer.join();
  EXPECT_EQ(got[1], Range(1, 105));
  EXPECT_EQ(got[2], Range(4, 105));
  ASSERT_EQ(got[3].size(), 1u);
  EXPECT_EQ(got[3][0], 55) << "live-50 is the 55th event";

  // A watch added behind the others replays for itself alone.
  Add(*stream, 4, 100);
  PublishOk(*stub, "after");
  ReadUntil(*stream, &got, [&] { return got[4].size() >= 6 && got[1].size() >= 106; });
  EXPECT_EQ(got[4], Range(101, 106));
  EXPECT_EQ(got[1], Range(1, 106)) << "no duplicate for the watches already there";
  EXPECT_EQ(got[2], Range(4, 106));
  EXPECT_EQ(got[3].size(), 1u);
  ctx.TryCancel();
}

TEST(WatchMany, CancelAndRefusedAddsEndOneWatchNotTheStream) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  PublishOk(*stub, "one");

  grpc::ClientContext ctx;
  auto stream = stub->WatchMany(&ctx);
  Add(*stream, 1, 0);
  Add(*stream, 2, 0);
  Add(*stream, 0, 0);     // not positive
  Add(*stream, 1, 0);     // duplicate
  Add(*stream, 9, 9999);  // beyond the head
  Cancel(*stream, 42);    // unknown
  Cancel(*stream, 2);
  std::map<int64_t, std::vector<int64_t>> got;
  std::vector<v1::NotificationWatchManyResponse> ended;
  ReadUntil(*stream, &got, [&] { return ended.size() >= 5 && got[1].size() >= 1; }, &ended);
  std::map<int64_t, std::vector<std::pair<int, std::string>>> why;
  for (const auto& m : ended) {
    ASSERT_EQ(m.watch_ids_size(), 1);
    why[m.watch_ids(0)].push_back({m.ended().code(), m.ended().message()});
  }
  ASSERT_EQ(why[0].size(), 1u);
  EXPECT_EQ(why[0][0].first, static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_NE(why[0][0].second.find("add.watch_id"), std::string::npos) << why[0][0].second;
  ASSERT_EQ(why[1].size(), 1u);
  EXPECT_NE(why[1][0].second.find("already a watch"), std::string::npos) << why[1][0].second;
  ASSERT_EQ(why[9].size(), 1u);
  EXPECT_EQ(why[9][0].first, static_cast<int>(grpc::StatusCode::OUT_OF_RANGE));
  EXPECT_NE(why[9][0].second.find("add.after_sequence"), std::string::npos) << why[9][0].second;
  ASSERT_EQ(why[42].size(), 1u);
  EXPECT_EQ(why[42][0].first, static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  ASSERT_EQ(why[2].size(), 1u);
  EXPECT_EQ(why[2][0].first, static_cast<int>(grpc::StatusCode::CANCELLED));

  // Watch 1 goes on; the cancelled watch 2 gets nothing more.
  PublishOk(*stub, "two");
  ReadUntil(*stream, &got, [&] { return got[1].size() >= 2; }, &ended);
  EXPECT_EQ(got[1], Range(1, 2));
  EXPECT_LE(got[2].size(), 1u);
  for (int64_t seq : got[2]) EXPECT_EQ(seq, 1);
  ctx.TryCancel();
}

TEST(WatchMany, AStreamHoldsAtMostItsLimitOfWatches) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  grpc::ClientContext ctx;
  auto stream = stub->WatchMany(&ctx);
  const int64_t limit = static_cast<int64_t>(rpc::MultiWatchStream<v1::NotificationWatchManyResponse>::kMaxWatchesPerStream);
  for (int64_t id = 1; id <= limit + 1; ++id) Add(*stream, id, 0);
  v1::NotificationWatchManyResponse m;
  ASSERT_TRUE(stream->Read(&m));
  ASSERT_TRUE(m.has_ended());
  ASSERT_EQ(m.watch_ids_size(), 1);
  EXPECT_EQ(m.watch_ids(0), limit + 1);
  EXPECT_EQ(m.ended().code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_NE(m.ended().message().find("another stream"), std::string::npos) << m.ended().message();
  // The stream and its watches go on.
  PublishOk(*stub, "after-the-limit");
  ASSERT_TRUE(stream->Read(&m));
  EXPECT_TRUE(m.has_event());
  EXPECT_EQ(m.watch_ids_size(), limit);
  ctx.TryCancel();
}

TEST(WatchMany, AMessageWithNeitherAddNorCancelEndsTheStreamNamingWhatToSet) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  grpc::ClientContext ctx;
  auto stream = stub->WatchMany(&ctx);
  ASSERT_TRUE(stream->Write(v1::WatchManyRequest()));
  v1::NotificationWatchManyResponse m;
  EXPECT_FALSE(stream->Read(&m));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("add"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace switchboard
