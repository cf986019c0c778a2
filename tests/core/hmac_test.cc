// HMAC-SHA256 (common/hmac.h) against RFC 4231's test vectors, in one
// piece and in parts, and from several threads at once (each keeps its
// own OpenSSL context).

#include "common/hmac.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"

namespace switchboard {
namespace {

std::string Hex(const Sha256Digest& d) { return absl::BytesToHexString(DigestBytes(d)); }

TEST(Hmac, MatchesRfc4231) {
  // Test case 2: a short key.
  EXPECT_EQ(Hex(HmacSha256("Jefe", {"what do ya want for nothing?"})),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block, which HMAC hashes first.
  EXPECT_EQ(Hex(HmacSha256(std::string(131, '\xaa'), {"Test Using Larger Than Block-Size Key - Hash Key First"})),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Hmac, PartsAreTheSameAsTheWholeAndTheKeyChangesPerCall) {
  const Sha256Digest whole = HmacSha256("secret", {"1700000000.{\"a\":1}"});
  EXPECT_EQ(HmacSha256("secret", {"1700000000", ".", "{\"a\":1}"}), whole);
  EXPECT_EQ(HmacSha256("secret", {"", "1700000000.{\"a\":1}", ""}), whole);
  // The same thread's context, re-keyed: another key gives another digest,
  // and the first key gives the first digest again.
  EXPECT_NE(HmacSha256("secret2", {"1700000000.{\"a\":1}"}), whole);
  EXPECT_EQ(HmacSha256("secret", {"1700000000.{\"a\":1}"}), whole);
  // An empty key is a key (RFC 2104 pads it with zeros).
  EXPECT_EQ(Hex(HmacSha256("", {""})), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Hmac, ThreadsEachGetTheRightDigest) {
  const Sha256Digest want = HmacSha256("Jefe", {"what do ya want for nothing?"});
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (HmacSha256("Jefe", {"what do ya ", "want for nothing?"}) != want) ++wrong[t];
        (void)HmacSha256(std::to_string(i), {"other"});
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace switchboard
