// CursorService against a real in-process switchboardd: forward-only,
// durable across restarts, bounded by the log head, names checked.

#include <gtest/gtest.h>

#include "switchboard/v1/cursors.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using switchboard::testing::PublishOk;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;

grpc::Status Commit(v1::CursorService::Stub& stub, const std::string& name, int64_t seq, v1::Cursor* out) {
  grpc::ClientContext ctx;
  v1::CommitCursorRequest req;
  req.set_name(name);
  req.set_sequence(seq);
  return stub.CommitCursor(&ctx, req, out);
}

grpc::Status Get(v1::CursorService::Stub& stub, const std::string& name, v1::Cursor* out) {
  grpc::ClientContext ctx;
  v1::GetCursorRequest req;
  req.set_name(name);
  return stub.GetCursor(&ctx, req, out);
}

TEST(CursorServiceTest, ForwardOnlyBoundedAndDurable) {
  TempDir dir;
  {
    TestServer server(dir.path());
    auto stub = v1::CursorService::NewStub(server.Channel());
    auto bus = server.Notification();
    v1::Cursor c;
    EXPECT_EQ(Get(*stub, "cursors/gw", &c).error_code(), grpc::StatusCode::NOT_FOUND);
    int64_t s1 = PublishOk(*bus, "11111111-1111-4111-8111-111111111111");
    int64_t s2 = PublishOk(*bus, "22222222-2222-4222-8222-222222222222");
    ASSERT_TRUE(Commit(*stub, "cursors/gw", s2, &c).ok());
    EXPECT_EQ(c.sequence(), s2);
    EXPECT_EQ(c.name(), "cursors/gw");
    EXPECT_GT(c.update_time().seconds(), 0);
    // Backwards changes nothing.
    ASSERT_TRUE(Commit(*stub, "cursors/gw", s1, &c).ok());
    EXPECT_EQ(c.sequence(), s2);
    // Beyond the head is OUT_OF_RANGE; the log did not grow from commits.
    auto st = Commit(*stub, "cursors/gw", s2 + 1, &c);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE) << st.error_message();
    EXPECT_EQ(Commit(*stub, "cursors/gw", -1, &c).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    for (const char* bad : {"", "gw", "cursors/", "cursors/a b", "cursors/a/b"}) {
      st = Commit(*stub, bad, 0, &c);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
      EXPECT_NE(st.error_message().find("name"), std::string::npos) << st.error_message();
    }
    ASSERT_TRUE(Commit(*stub, "cursors/other", s1, &c).ok());
  }
  TestServer again(dir.path());
  auto stub = v1::CursorService::NewStub(again.Channel());
  v1::Cursor c;
  ASSERT_TRUE(Get(*stub, "cursors/gw", &c).ok());
  EXPECT_EQ(c.sequence(), 2);
  ASSERT_TRUE(Get(*stub, "cursors/other", &c).ok());
  EXPECT_EQ(c.sequence(), 1);
}

}  // namespace
}  // namespace switchboard
