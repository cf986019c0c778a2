// LogLimiter: one line per interval, and the next line says how many were
// not logged.
#include "common/log_limiter.h"

#include <gtest/gtest.h>

namespace switchboard::log {
namespace {

TEST(LogLimiter, OneLinePerIntervalCountingTheOnesDropped) {
  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  LogLimiter limiter(std::chrono::seconds(1), [&] { return now; });
  ASSERT_EQ(limiter.Allow(), std::optional<int64_t>(0));  // the first is logged
  for (int i = 0; i < 99; ++i) EXPECT_FALSE(limiter.Allow().has_value());
  now += std::chrono::milliseconds(999);
  EXPECT_FALSE(limiter.Allow().has_value());
  now += std::chrono::milliseconds(1);
  EXPECT_EQ(limiter.Allow(), std::optional<int64_t>(100));  // 99 + 1 dropped
  now += std::chrono::seconds(5);
  EXPECT_EQ(limiter.Allow(), std::optional<int64_t>(0));
}

}  // namespace
}  // namespace switchboard::log
