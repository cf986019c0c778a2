// common/uuid: the canonical form, the version and variant bits, no repeats.
#include "common/uuid.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

namespace switchboard {
namespace {

TEST(Uuid, IsAVersionFourUuidInCanonicalLowercaseForm) {
  const std::regex canonical("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  std::set<char> digits;
  for (int i = 0; i < 2000; ++i) {
    std::string u = NewUuid();
    ASSERT_TRUE(std::regex_match(u, canonical)) << u;
    EXPECT_TRUE(seen.insert(u).second) << "repeated: " << u;
    digits.insert(u.begin(), u.end());
  }
  // Every hex digit turns up somewhere: no position is stuck.
  EXPECT_EQ(digits.size(), 17u);  // 0-9, a-f and '-'
}

}  // namespace
}  // namespace switchboard
