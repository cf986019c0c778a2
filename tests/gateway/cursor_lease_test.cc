// CursorService's leases against a real in-process switchboardd
// (proto/switchboard/v1/cursors.proto, server/cursors/cursor_lease.h): one
// holder at a time, fenced commits, take-over after the ttl or a release,
// renewals, bad input. With SWITCHBOARD_TEST_STORE_URL set (tools/test.sh
// --store=postgres) the server keeps them in PostgreSQL.

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "switchboard/v1/cursors.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using switchboard::testing::PublishOk;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;

constexpr char kCursor[] = "cursors/leased";

struct Leases {
  std::unique_ptr<v1::CursorService::Stub> stub;

  grpc::Status Acquire(const std::string& holder, absl::Duration ttl, v1::CursorLease* out, int64_t token = 0,
                       const std::string& name = kCursor) {
    grpc::ClientContext ctx;
    v1::AcquireCursorLeaseRequest req;
    req.set_name(name);
    req.set_holder(holder);
    req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    req.mutable_ttl()->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(ttl % absl::Seconds(1))));
    req.set_token(token);
    return stub->AcquireCursorLease(&ctx, req, out);
  }
  grpc::Status Commit(int64_t sequence, const std::string& holder, int64_t token, v1::Cursor* out) {
    grpc::ClientContext ctx;
    v1::CommitCursorRequest req;
    req.set_name(kCursor);
    req.set_sequence(sequence);
    req.set_lease_holder(holder);
    req.set_lease_token(token);
    return stub->CommitCursor(&ctx, req, out);
  }
  grpc::Status Release(const std::string& holder, int64_t token) {
    grpc::ClientContext ctx;
    v1::ReleaseCursorLeaseRequest req;
    req.set_name(kCursor);
    req.set_holder(holder);
    req.set_token(token);
    v1::ReleaseCursorLeaseResponse resp;
    return stub->ReleaseCursorLease(&ctx, req, &resp);
  }
  int64_t Cursor() {
    grpc::ClientContext ctx;
    v1::GetCursorRequest req;
    req.set_name(kCursor);
    v1::Cursor c;
    auto s = stub->GetCursor(&ctx, req, &c);
    return s.ok() ? c.sequence() : -1;
  }
};

int64_t ExpireUs(const v1::CursorLease& l) {
  return l.expire_time().seconds() * 1000000 + l.expire_time().nanos() / 1000;
}

std::string Uuid(int i) { return absl::StrCat("00000000-0000-4000-8000-", absl::Dec(i, absl::kZeroPad12)); }

TEST(CursorLeaseTest, OneHolderAtATimeAndTheNextTakesOverAfterTheTtl) {
  TempDir dir;
  TestServer server(dir.path());
  Leases l{v1::CursorService::NewStub(server.Channel())};
  auto bus = server.Notification();
  for (int i = 1; i <= 5; ++i) PublishOk(*bus, Uuid(i));

  // A takes the lease of a cursor never committed.
  v1::CursorLease a;
  ASSERT_TRUE(l.Acquire("gateway-a", absl::Seconds(2), &a).ok());
  EXPECT_EQ(a.name(), kCursor);
  EXPECT_EQ(a.holder(), "gateway-a");
  EXPECT_GT(a.token(), 0);
  EXPECT_EQ(a.sequence(), 0);
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  EXPECT_GT(ExpireUs(a), now_us);
  EXPECT_LE(ExpireUs(a), now_us + 3'000'000);

  // B is refused while A holds it, with A named.
  v1::CursorLease b;
  grpc::Status refused = l.Acquire("gateway-b", absl::Seconds(1), &b);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_NE(refused.error_message().find("gateway-a"), std::string::npos) << refused.error_message();

  // A commits with its token; B cannot, even with A's token.
  v1::Cursor c;
  grpc::Status ok = l.Commit(3, "gateway-a", a.token(), &c);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(c.sequence(), 3);
  grpc::Status stolen = l.Commit(4, "gateway-b", a.token(), &c);
  EXPECT_EQ(stolen.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << stolen.error_message();
  EXPECT_EQ(l.Cursor(), 3);

  // A stops renewing (dies): after the ttl B takes over, with a bigger
  // token and the cursor as A left it.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  grpc::Status took = l.Acquire("gateway-b", absl::Seconds(10), &b);
  ASSERT_TRUE(took.ok()) << took.error_message();
  EXPECT_GT(b.token(), a.token());
  EXPECT_EQ(b.sequence(), 3);

  // A's late commit and renewal are refused, naming B, and change nothing.
  grpc::Status late = l.Commit(5, "gateway-a", a.token(), &c);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << late.error_message();
  EXPECT_EQ(late.error_message().rfind("lease lost", 0), 0u) << late.error_message();
  EXPECT_NE(late.error_message().find("gateway-b"), std::string::npos) << late.error_message();
  EXPECT_EQ(l.Cursor(), 3);
  v1::CursorLease again;
  grpc::Status renew = l.Acquire("gateway-a", absl::Seconds(1), &again, a.token());
  EXPECT_EQ(renew.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << renew.error_message();
  EXPECT_EQ(renew.error_message().rfind("lease lost", 0), 0u) << renew.error_message();
  // Nor can A take it back without a token while B holds it.
  EXPECT_EQ(l.Acquire("gateway-a", absl::Seconds(1), &again).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // B commits with its token.
  ok = l.Commit(5, "gateway-b", b.token(), &c);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(l.Cursor(), 5);

  // Leases are per cursor.
  v1::CursorLease other;
  ASSERT_TRUE(l.Acquire("gateway-a", absl::Seconds(1), &other, 0, "cursors/another").ok());
}

TEST(CursorLeaseTest, AReleasedLeaseIsTakenAtOnceAndFencesItsOldHolder) {
  TempDir dir;
  TestServer server(dir.path());
  Leases l{v1::CursorService::NewStub(server.Channel())};
  auto bus = server.Notification();
  for (int i = 1; i <= 2; ++i) PublishOk(*bus, Uuid(i));

  v1::CursorLease a;
  ASSERT_TRUE(l.Acquire("gateway-a", absl::Minutes(5), &a).ok());
  v1::Cursor c;
  ASSERT_TRUE(l.Commit(2, "gateway-a", a.token(), &c).ok());
  // Only the holder, with its token, hands it back.
  EXPECT_EQ(l.Release("gateway-b", a.token()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(l.Release("gateway-a", a.token() + 1).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  grpc::Status released = l.Release("gateway-a", a.token());
  ASSERT_TRUE(released.ok()) << released.error_message();

  // B gets it at once, though A's ttl was five minutes.
  v1::CursorLease b;
  grpc::Status took = l.Acquire("gateway-b", absl::Seconds(10), &b);
  ASSERT_TRUE(took.ok()) << took.error_message();
  EXPECT_GT(b.token(), a.token());
  EXPECT_EQ(b.sequence(), 2);
  // A is fenced: no commit, renewal or second release.
  grpc::Status late = l.Commit(2, "gateway-a", a.token(), &c);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << late.error_message();
  EXPECT_NE(late.error_message().find("gateway-b"), std::string::npos) << late.error_message();
  v1::CursorLease renewed;
  EXPECT_EQ(l.Acquire("gateway-a", absl::Seconds(10), &renewed, a.token()).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(l.Release("gateway-a", a.token()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // Bad input names the field.
  EXPECT_EQ(l.Release("", b.token()).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status no_token = l.Release("gateway-b", 0);
  EXPECT_EQ(no_token.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(no_token.error_message().find("token"), std::string::npos) << no_token.error_message();
  EXPECT_TRUE(l.Release("gateway-b", b.token()).ok());
}

TEST(CursorLeaseTest, RenewalsAndFencedCommitsKeepTheLease) {
  TempDir dir;
  TestServer server(dir.path());
  Leases l{v1::CursorService::NewStub(server.Channel())};
  auto bus = server.Notification();
  for (int i = 1; i <= 3; ++i) PublishOk(*bus, Uuid(i));

  // Every step below comes well within the ttl of the one before, so B is
  // refused throughout even on a slow machine.
  const absl::Duration ttl = absl::Seconds(2);
  v1::CursorLease a;
  ASSERT_TRUE(l.Acquire("gateway-a", ttl, &a).ok());
  // Renewed for two ttls with its token: the lease stays A's, same token,
  // and B is refused throughout.
  int64_t last_expiry = ExpireUs(a);
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    v1::CursorLease renewed;
    grpc::Status s = l.Acquire("gateway-a", ttl, &renewed, a.token());
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(renewed.token(), a.token());
    EXPECT_GT(ExpireUs(renewed), last_expiry);
    last_expiry = ExpireUs(renewed);
    v1::CursorLease b;
    EXPECT_EQ(l.Acquire("gateway-b", absl::Seconds(1), &b).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  // A token-less acquire by the holder gives the same lease back, renewed
  // (a retry whose first answer was lost).
  v1::CursorLease same;
  ASSERT_TRUE(l.Acquire("gateway-a", ttl, &same).ok());
  EXPECT_EQ(same.token(), a.token());

  // Fenced commits renew it too (by the ttl A asked for).
  for (int i = 1; i <= 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
    v1::Cursor c;
    grpc::Status s = l.Commit(i, "gateway-a", a.token(), &c);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::CursorLease b;
  EXPECT_EQ(l.Acquire("gateway-b", absl::Seconds(1), &b).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(l.Cursor(), 3);

  // An unfenced commit still works (clients without leases), and a renewal
  // reports the cursor's sequence.
  v1::Cursor c;
  ASSERT_TRUE(l.Commit(3, "", 0, &c).ok());
  v1::CursorLease renewed;
  ASSERT_TRUE(l.Acquire("gateway-a", ttl, &renewed, a.token()).ok());
  EXPECT_EQ(renewed.sequence(), 3);

  // An expired lease nobody took over is still the holder's.
  std::this_thread::sleep_for(std::chrono::milliseconds(2300));
  ASSERT_TRUE(l.Acquire("gateway-a", ttl, &renewed, a.token()).ok());
  EXPECT_EQ(renewed.token(), a.token());
}

TEST(CursorLeaseTest, BadInputIsRefusedNamingTheField) {
  TempDir dir;
  TestServer server(dir.path());
  Leases l{v1::CursorService::NewStub(server.Channel())};
  auto invalid = [](grpc::Status s, const std::string& field) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(field), std::string::npos) << s.error_message();
  };
  v1::CursorLease out;
  invalid(l.Acquire("", absl::Seconds(10), &out), "holder");
  invalid(l.Acquire(std::string(300, 'h'), absl::Seconds(10), &out), "holder");
  invalid(l.Acquire("tab\there", absl::Seconds(10), &out), "holder");
  invalid(l.Acquire("h", absl::ZeroDuration(), &out), "ttl");
  invalid(l.Acquire("h", absl::Milliseconds(500), &out), "ttl");
  invalid(l.Acquire("h", absl::Minutes(6), &out), "ttl");
  invalid(l.Acquire("h", absl::Seconds(10), &out, -1), "token");
  for (const char* bad : {"", "leased", "cursors/", "cursors/a b", "cursors/a/b"}) {
    invalid(l.Acquire("h", absl::Seconds(10), &out, 0, bad), "name");
  }
  // The bounds themselves are good.
  ASSERT_TRUE(l.Acquire("h", absl::Seconds(1), &out).ok());
  ASSERT_TRUE(l.Acquire("h", absl::Minutes(5), &out, out.token()).ok());

  v1::Cursor c;
  invalid(l.Commit(0, "", 1, &c), "lease_holder");
  invalid(l.Commit(0, "h", 0, &c), "lease_token");
  invalid(l.Commit(0, "h", -1, &c), "lease_token");
  // A holder that never had the lease of this cursor is refused as lost.
  grpc::Status never = l.Commit(0, "someone-else", 1, &c);
  EXPECT_EQ(never.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << never.error_message();
  EXPECT_EQ(l.Cursor(), -1) << "a refused commit writes nothing";
}

}  // namespace
}  // namespace switchboard
