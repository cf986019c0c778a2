// Issue 20, finding 6: the loopback check resolves the host and checks
// every address, instead of testing the text for a "127." prefix.

#include <gtest/gtest.h>

#include "common/auth.h"

namespace switchboard {
namespace {

TEST(LoopbackCheck, LoopbackAddressesAndLocalhostPass) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackAddress("127.3.2.1:1"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:50051"));
}

TEST(LoopbackCheck, NamesThatOnlyLookLoopbackAndOtherAddressesFail) {
  EXPECT_FALSE(IsLoopbackAddress("127.0.0.1.example.invalid:50051"));
  EXPECT_FALSE(IsLoopbackAddress("127.evil.invalid:50051"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1:50051"));
  EXPECT_FALSE(IsLoopbackAddress("[::ffff:10.0.0.1]:1"));
  EXPECT_FALSE(IsLoopbackAddress(":50051"));
}

TEST(LoopbackCheck, TokenlessServerRefusesToListenOnANameThatOnlyLooksLoopback) {
  auto local = TokenAuthenticator::AllowLocal();
  EXPECT_TRUE(local->CheckListenAddress("grpc_address", "127.0.0.1:0").ok());
  auto s = local->CheckListenAddress("grpc_address", "127.0.0.1.example.invalid:50051");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("127.0.0.1.example.invalid"), std::string::npos) << s;
}

}  // namespace
}  // namespace switchboard
