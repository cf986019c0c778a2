// The Azure Queue REST client against a real Azurite (tools/services.sh).

#include "gateway/adapters/storage_queue/queue_client.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "common/azure/xml.h"
#include "tests/gateway/storage_queue_env.h"

namespace switchboard::gateway::storage_queue {
namespace {

using azure::XmlEscape;
using azure::XmlUnescape;
using switchboard::testing::AzuriteQueueAccount;
using switchboard::testing::UniqueQueueName;

TEST(StorageQueueXml, EscapesAndUnescapes) {
  EXPECT_EQ(XmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(XmlUnescape("a&lt;b&gt;&amp;&quot;c&apos;"), "a<b>&\"c'");
  EXPECT_EQ(XmlUnescape("&#65;&#x42;&#xe9;"), "AB\xc3\xa9");
  // Malformed entities stay as they are.
  EXPECT_EQ(XmlUnescape("&bogus; & &#xZZ; &#;"), "&bogus; & &#xZZ; &#;");
}

TEST(StorageQueueXml, ParsesMessagesList) {
  auto list = ParseMessagesList(
      "<?xml version=\"1.0\"?><QueueMessagesList><QueueMessage><MessageId>m1</MessageId>"
      "<PopReceipt>p1</PopReceipt><DequeueCount>3</DequeueCount><MessageText>{&quot;a&quot;:1}</MessageText>"
      "</QueueMessage><QueueMessage><MessageId>m2</MessageId><DequeueCount>x</DequeueCount></QueueMessage>"
      "</QueueMessagesList>");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "m1");
  EXPECT_EQ(list[0].pop_receipt, "p1");
  EXPECT_EQ(list[0].dequeue_count, 3);
  EXPECT_EQ(list[0].text, "{\"a\":1}");
  EXPECT_EQ(list[1].id, "m2");
  EXPECT_EQ(list[1].dequeue_count, 0);
  EXPECT_TRUE(ParseMessagesList("<QueueMessagesList />").empty());
}

TEST(StorageQueueClient, PutGetDeleteAgainstAzurite) {
  QueueClient q(AzuriteQueueAccount());
  const std::string name = UniqueQueueName("client");
  ASSERT_TRUE(q.CreateQueue(name).ok());
  ASSERT_TRUE(q.CreateQueue(name).ok()) << "creating an existing queue is fine";

  const std::string text = "{\"x\": \"<&>\u00e9\"}";
  auto put = q.PutMessage(name, text);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_FALSE(put->id.empty());

  auto peek = q.PeekMessages(name, 32);
  ASSERT_TRUE(peek.ok()) << peek.status();
  ASSERT_EQ(peek->size(), 1u);
  EXPECT_EQ((*peek)[0].text, text);
  EXPECT_EQ((*peek)[0].dequeue_count, 0);

  auto got = q.GetMessages(name, 32, 30);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  const QueueMessage m = (*got)[0];
  EXPECT_EQ(m.id, put->id);
  EXPECT_EQ(m.text, text);
  EXPECT_EQ(m.dequeue_count, 1);
  EXPECT_FALSE(m.pop_receipt.empty());

  // Invisible while its visibility timeout runs, but still counted.
  auto again = q.GetMessages(name, 32, 30);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  auto count = q.ApproximateCount(name);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 1);

  // A wrong pop receipt does not delete it.
  EXPECT_FALSE(q.DeleteMessage(name, m.id, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").ok());
  ASSERT_TRUE(q.DeleteMessage(name, m.id, m.pop_receipt).ok());
  EXPECT_EQ(q.DeleteMessage(name, m.id, m.pop_receipt).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*q.ApproximateCount(name), 0);
}

TEST(StorageQueueClient, MessageReappearsAfterVisibilityTimeoutWithHigherDequeueCount) {
  QueueClient q(AzuriteQueueAccount());
  const std::string name = UniqueQueueName("visibility");
  ASSERT_TRUE(q.CreateQueue(name).ok());
  ASSERT_TRUE(q.PutMessage(name, "hello").ok());
  auto first = q.GetMessages(name, 1, 1);
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto second = q.GetMessages(name, 1, 1);
  ASSERT_TRUE(second.ok() && second->size() == 1u);
  EXPECT_EQ((*second)[0].id, (*first)[0].id);
  EXPECT_EQ((*second)[0].dequeue_count, 2);
  EXPECT_NE((*second)[0].pop_receipt, (*first)[0].pop_receipt);
}

TEST(StorageQueueClient, ErrorsNameTheOperationAndQueue) {
  QueueAccount bad = AzuriteQueueAccount();
  bad.key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=";
  QueueClient q(bad);
  absl::Status s = q.CreateQueue(UniqueQueueName("denied"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_NE(s.message().find("create"), std::string::npos) << s;

  QueueClient good(AzuriteQueueAccount());
  auto missing = good.GetMessages(UniqueQueueName("missing"), 1, 1);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();

  QueueAccount down = AzuriteQueueAccount();
  down.endpoint = "http://127.0.0.1:1/devstoreaccount1";
  EXPECT_EQ(QueueClient(down).CreateQueue("x").code(), absl::StatusCode::kUnavailable);

  QueueAccount not_b64 = AzuriteQueueAccount();
  not_b64.key = "%%%";
  EXPECT_EQ(QueueClient(not_b64).CreateQueue("x").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace switchboard::gateway::storage_queue
