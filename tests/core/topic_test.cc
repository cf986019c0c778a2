#include <gtest/gtest.h>

#include "server/notification/topic.h"

namespace switchboard::notification {
namespace {

struct Case {
  const char* pattern;
  const char* key;
  bool match;
};

TEST(Topic, MatchesLikeAnAmqpTopicExchange) {
  const Case cases[] = {
      {"request.gapps.account.create", "request.gapps.account.create", true},
      {"request.gapps.account.create", "request.gapps.account.update", false},
      {"request.*.account.create", "request.gapps.account.create", true},
      {"request.*", "request.gapps.account.create", false},
      {"request.#", "request.gapps.account.create", true},
      {"request.#", "request", true},
      {"#", "anything.at.all", true},
      {"#.create", "request.gapps.account.create", true},
      {"#.create", "create", true},
      {"*.create", "create", false},
      {"request.#.create", "request.create", true},
      {"request.#.create", "request.a.b.c.create", true},
      {"request.#.create", "request.a.b.c.update", false},
      {"notify.#.#", "notify.x", true},
      {"*.*", "a.b", true},
      {"*.*", "a.b.c", false},
      {"a.*.c", "a..c", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(TopicMatches(c.pattern, c.key), c.match) << c.pattern << " vs " << c.key;
  }
}

TEST(Topic, RoutingKeysNeedNonEmptyPlainWords) {
  EXPECT_TRUE(ValidateRoutingKey("event_name", "a.b.c").ok());
  EXPECT_EQ(ValidateRoutingKey("event_name", "").code(), absl::StatusCode::kInvalidArgument);
  auto s = ValidateRoutingKey("event_name", "a..c");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("event_name"), absl::string_view::npos);
  EXPECT_FALSE(ValidateRoutingKey("event_name", "a.*").ok());
  EXPECT_TRUE(ValidateBinding("binding", "a.*.#").ok());
  EXPECT_FALSE(ValidateBinding("binding", ".a").ok());
}

}  // namespace
}  // namespace switchboard::notification
