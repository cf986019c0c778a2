// The records kept for webhook attempts (server/notification/webhook_records.h):
// a record is given back only to the claim right after the commit that kept it.

#include "server/notification/webhook_records.h"

#include <gtest/gtest.h>

namespace switchboard::notification {
namespace {

TEST(DeliveryRecords, ARecordServesOnlyTheClaimRightAfterItsCommit) {
  DeliveryRecords records(8);
  records.Put("webhooks/a/deliveries/1", "routed", 0);
  EXPECT_EQ(records.Get("webhooks/a/deliveries/1", 1), "routed") << "the first claim after routing";
  EXPECT_EQ(records.Get("webhooks/a/deliveries/1", 2), std::nullopt) << "a claim came between: read the store";
  EXPECT_EQ(records.Get("webhooks/a/deliveries/2", 1), std::nullopt) << "never kept";

  records.Put("webhooks/a/deliveries/1", "retrying after attempt 1", 1);
  EXPECT_EQ(records.Get("webhooks/a/deliveries/1", 2), "retrying after attempt 1");
  EXPECT_EQ(records.Get("webhooks/a/deliveries/1", 1), std::nullopt) << "the claim the retry was written under";

  records.Erase("webhooks/a/deliveries/1");
  EXPECT_EQ(records.Get("webhooks/a/deliveries/1", 2), std::nullopt);
  EXPECT_EQ(records.size(), 0u);
}

TEST(DeliveryRecords, AFullSetIsForgottenAndKeepsTheNewRecord) {
  DeliveryRecords records(2);
  records.Put("d1", "r1", 0);
  records.Put("d2", "r2", 0);
  records.Put("d2", "r2 again", 1);  // a record kept already is replaced, not added
  EXPECT_EQ(records.size(), 2u);
  records.Put("d3", "r3", 0);
  EXPECT_EQ(records.size(), 1u);
  EXPECT_EQ(records.Get("d1", 1), std::nullopt);
  EXPECT_EQ(records.Get("d3", 1), "r3");
}

}  // namespace
}  // namespace switchboard::notification
