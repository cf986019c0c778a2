// The RabbitMQ binding specs (amqp_consume, amqp_bridge): what is read, and
// the errors that name the entry and say what to fix.
#include "absl/strings/match.h"
#include "gateway/adapters/rabbitmq/consume_spec.h"
#include "gateway/adapters/rabbitmq/topology.h"
#include "gtest/gtest.h"

namespace switchboard::gateway::rabbitmq {
namespace {

TEST(ConsumeSpec, ReadsAppsAndTheirBindings) {
  auto apps = ParseConsumeSpec(" gappsd:request.gapps.#|notify.gapps.# , other:a.b ");
  ASSERT_TRUE(apps.ok()) << apps.status();
  ASSERT_EQ(apps->size(), 2u);
  EXPECT_EQ((*apps)[0].app_id, "gappsd");
  EXPECT_EQ((*apps)[0].bindings, (std::vector<std::string>{"request.gapps.#", "notify.gapps.#"}));
  EXPECT_EQ((*apps)[1].app_id, "other");
  EXPECT_TRUE(ParseConsumeSpec("").value().empty());
}

TEST(ConsumeSpec, ErrorsNameTheKeyTheEntryAndTheFix) {
  auto no_colon = ParseConsumeSpec("gappsd", "amqp_bridge");
  EXPECT_TRUE(absl::IsInvalidArgument(no_colon.status()));
  EXPECT_EQ(no_colon.status().message(), "amqp_bridge 'gappsd': must be NAME:BINDING[|BINDING...]");
  auto bad_name = ParseConsumeSpec("a b:x.y");
  EXPECT_TRUE(absl::StrContains(bad_name.status().message(), "may only hold [A-Za-z0-9_.-]"));
  auto empty_word = ParseConsumeSpec("app:a..b");
  EXPECT_EQ(empty_word.status().message(), "amqp_consume 'app:a..b': binding 'a..b' has an empty word");
}

TEST(ConsumeSpec, NamesFitAmqpShortStringsAndLongEntriesAreCutInErrors) {
  std::string longest(kMaxAppIdLength, 'a');
  auto ok = ParseConsumeSpec(longest + ":x");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(DeferredQueue((*ok)[0].app_id).size(), 255u);
  EXPECT_LE(JobQueue((*ok)[0].app_id).size(), 255u);
  auto too_long = ParseConsumeSpec(longest + "a:x");
  EXPECT_TRUE(absl::IsInvalidArgument(too_long.status()));
  EXPECT_TRUE(absl::StrContains(too_long.status().message(), "at most 244 characters")) << too_long.status();
  EXPECT_LT(too_long.status().message().size(), 250u) << too_long.status();
}

}  // namespace
}  // namespace switchboard::gateway::rabbitmq
