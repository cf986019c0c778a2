// The durable bus end to end through a real in-process server: queues that
// fill with no client connected, at-least-once delivery, soft errors growing
// errors[] up to dead-lettering, hard errors, visibility timeouts, dropped
// streams, restarts, and bad input.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/core/test_support.h"
#include "tests/notification/bus_client.h"

namespace switchboard::testing {
namespace {

int64_t PublishKey(v1::NotificationService::Stub& stub, const std::string& uuid, const std::string& key) {
  grpc::ClientContext ctx;
  v1::PublishRequest req;
  *req.mutable_envelope() = Envelope(uuid, key);
  v1::PublishResponse resp;
  grpc::Status s = stub.Publish(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.matched_subscriptions();
}

v1::Subscription GetSub(v1::NotificationService::Stub& stub, const std::string& queue) {
  grpc::ClientContext ctx;
  v1::GetSubscriptionRequest req;
  req.set_name("subscriptions/" + queue);
  v1::Subscription sub;
  EXPECT_TRUE(stub.GetSubscription(&ctx, req, &sub).ok());
  return sub;
}

v1::ListDeadLettersResponse DeadLetters(v1::NotificationService::Stub& stub, const std::string& queue) {
  grpc::ClientContext ctx;
  v1::ListDeadLettersRequest req;
  req.set_subscription("subscriptions/" + queue);
  v1::ListDeadLettersResponse resp;
  EXPECT_TRUE(stub.ListDeadLetters(&ctx, req, &resp).ok());
  return resp;
}

TEST(Bus, QueueFillsWithNoClientConnectedAndDeliversInOrder) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  v1::Subscription sub = CreateSubscriptionOk(*stub, "gappsd_job_q", "request.gapps.#");
  EXPECT_EQ(sub.app_id(), "gappsd");
  EXPECT_EQ(PublishKey(*stub, "u1", "request.gapps.account.create"), 1);
  EXPECT_EQ(PublishKey(*stub, "u2", "notify.gapps.account.updated"), 0);
  EXPECT_EQ(PublishKey(*stub, "u3", "request.gapps.account.delete"), 1);
  EXPECT_EQ(GetSub(*stub, "gappsd_job_q").ready_count(), 2);

  SubscriberThread reader(*stub, "gappsd_job_q");
  auto d1 = reader.Next();
  auto d2 = reader.Next();
  ASSERT_TRUE(d1.has_value() && d2.has_value());
  EXPECT_EQ(d1->envelope().event_uuid(), "u1");
  EXPECT_EQ(d2->envelope().event_uuid(), "u3");
  EXPECT_EQ(d1->attempt(), 1);
  EXPECT_TRUE(Ack(*stub, *d1).ok());
  EXPECT_TRUE(Ack(*stub, *d2).ok());
  // A second answer to the same delivery is refused.
  EXPECT_EQ(Ack(*stub, *d1).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_FALSE(reader.Next(300).has_value());
  v1::Subscription after = GetSub(*stub, "gappsd_job_q");
  EXPECT_EQ(after.ready_count(), 0);
  EXPECT_EQ(after.in_flight_count(), 0);
}

TEST(Bus, OneAckAnswersManyDeliveriesAndNamesTheOnesNoLongerOutstanding) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  CreateSubscriptionOk(*stub, "batch_q", "#");
  for (int i = 0; i < 5; ++i) PublishKey(*stub, "batch-" + std::to_string(i), "a.b");
  SubscriberThread reader(*stub, "batch_q");
  std::vector<v1::Delivery> got;
  for (int i = 0; i < 5; ++i) {
    auto d = reader.Next();
    ASSERT_TRUE(d.has_value()) << "delivery " << i;
    got.push_back(*d);
  }
  // The first one answered alone, then all five at once (the first twice).
  ASSERT_TRUE(Ack(*stub, got[0]).ok());
  grpc::ClientContext ctx;
  v1::AckRequest req;
  req.set_subscription("subscriptions/batch_q");
  for (const auto& d : got) req.add_delivery_ids(d.delivery_id());
  req.add_delivery_ids(got[0].delivery_id());
  v1::AckResponse resp;
  grpc::Status s = stub->Ack(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.not_outstanding_size(), 1);
  EXPECT_EQ(resp.not_outstanding(0), got[0].delivery_id());
  v1::Subscription after = GetSub(*stub, "batch_q");
  EXPECT_EQ(after.ready_count(), 0);
  EXPECT_EQ(after.in_flight_count(), 0);
  EXPECT_FALSE(reader.Next(300).has_value()) << "an acked delivery came back";

  // One id that this server never issued refuses the whole call, naming it,
  // and acks none.
  PublishKey(*stub, "batch-5", "a.b");
  auto d5 = reader.Next();
  ASSERT_TRUE(d5.has_value());
  grpc::ClientContext bad_ctx;
  v1::AckRequest bad;
  bad.set_subscription("subscriptions/batch_q");
  bad.add_delivery_ids(d5->delivery_id());
  bad.add_delivery_ids("not-a-delivery");
  grpc::Status refused = stub->Ack(&bad_ctx, bad, &resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("delivery_ids[1]"), std::string::npos) << refused.error_message();
  EXPECT_EQ(GetSub(*stub, "batch_q").in_flight_count(), 1);

  grpc::ClientContext big_ctx;
  v1::AckRequest big;
  big.set_subscription("subscriptions/batch_q");
  for (int i = 0; i < 1001; ++i) big.add_delivery_ids(d5->delivery_id());
  grpc::Status too_many = stub->Ack(&big_ctx, big, &resp);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(too_many.error_message().find("at most 1000"), std::string::npos) << too_many.error_message();
  EXPECT_TRUE(Ack(*stub, *d5).ok());
}

TEST(Bus, SoftErrorsGrowErrorsThenDeadLetterAtMaxAttempts) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  CreateSubscriptionOk(*stub, "gappsd_job_q", "request.gapps.#", /*retry_delay_ms=*/100, /*max_attempts=*/3);
  PublishKey(*stub, "soft-1", "request.gapps.account.create");
  SubscriberThread reader(*stub, "gappsd_job_q");
  for (int i = 0; i < 3; ++i) {
    auto d = reader.Next();
    ASSERT_TRUE(d.has_value()) << "delivery " << i;
    EXPECT_EQ(d->attempt(), i + 1);
    EXPECT_EQ(d->softfail_count(), i);
    ASSERT_EQ(d->envelope().errors_size(), i);
    EXPECT_EQ(d->envelope().errors_count(), i);
    if (i > 0) {
      const auto& e = d->envelope().errors(i - 1);
      EXPECT_EQ(e.error_type(), v1::BusError::SOFTERROR);
      EXPECT_EQ(e.error_sender(), "gappsd");
      EXPECT_EQ(e.error_message(), "Google API Unavailable");
      EXPECT_EQ(e.error_uuid().size(), 36u);
      EXPECT_TRUE(e.has_timestamp());
      EXPECT_EQ(e.error_debug().fields().at("attempt").number_value(), i);
    }
    v1::NackResponse resp;
    ASSERT_TRUE(Nack(*stub, *d, v1::BusError::SOFTERROR, &resp).ok());
    EXPECT_EQ(resp.dead_lettered(), i == 2);
  }
  EXPECT_FALSE(reader.Next(500).has_value()) << "a dead letter must not be redelivered";
  auto dls = DeadLetters(*stub, "gappsd_job_q");
  ASSERT_EQ(dls.dead_letters_size(), 1);
  EXPECT_EQ(dls.dead_letters(0).envelope().errors_size(), 3);
  EXPECT_NE(dls.dead_letters(0).reason().find("max attempts"), std::string::npos);
  EXPECT_EQ(GetSub(*stub, "gappsd_job_q").dead_letter_count(), 1);
}

TEST(Bus, HardErrorDeadLettersAtOnceAndReplayAndPurgeWork) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  CreateSubscriptionOk(*stub, "gappsd_job_q", "request.gapps.#");
  PublishKey(*stub, "hard-1", "request.gapps.account.create");
  SubscriberThread reader(*stub, "gappsd_job_q");
  auto d = reader.Next();
  ASSERT_TRUE(d.has_value());
  v1::NackResponse resp;
  ASSERT_TRUE(Nack(*stub, *d, v1::BusError::HARDERROR, &resp).ok());
  EXPECT_TRUE(resp.dead_lettered());
  auto dls = DeadLetters(*stub, "gappsd_job_q");
  ASSERT_EQ(dls.dead_letters_size(), 1);
  EXPECT_EQ(dls.dead_letters(0).envelope().errors(0).error_type(), v1::BusError::HARDERROR);
  EXPECT_NE(dls.dead_letters(0).reason().find("harderror"), std::string::npos);

  {  // Replay: back on the queue, delivered again.
    grpc::ClientContext ctx;
    v1::ReplayDeadLetterRequest req;
    req.set_request_id(NewRequestId());
    req.set_name(dls.dead_letters(0).name());
    v1::DeadLetter out;
    ASSERT_TRUE(stub->ReplayDeadLetter(&ctx, req, &out).ok());
  }
  auto again = reader.Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->envelope().event_uuid(), "hard-1");
  EXPECT_EQ(again->envelope().errors_size(), 1) << "the error history is kept";
  EXPECT_EQ(DeadLetters(*stub, "gappsd_job_q").dead_letters_size(), 0);
  ASSERT_TRUE(Nack(*stub, *again, v1::BusError::HARDERROR).ok());
  {
    grpc::ClientContext ctx;
    v1::PurgeDeadLettersRequest req;
    req.set_request_id(NewRequestId());
    req.set_subscription("subscriptions/gappsd_job_q");
    v1::PurgeDeadLettersResponse out;
    ASSERT_TRUE(stub->PurgeDeadLetters(&ctx, req, &out).ok());
    EXPECT_EQ(out.purged(), 1);
  }
  EXPECT_EQ(DeadLetters(*stub, "gappsd_job_q").dead_letters_size(), 0);
}

TEST(Bus, DeletingASubscriptionDropsItsMessagesAndDeadLettersAndARecreatedOneStartsEmpty) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  CreateSubscriptionOk(*stub, "gone_job_q", "request.gapps.#");
  CreateSubscriptionOk(*stub, "kept_job_q", "request.gapps.#");
  PublishKey(*stub, "del-1", "request.gapps.account.create");
  {
    SubscriberThread reader(*stub, "gone_job_q", 1);
    auto d = reader.Next();
    ASSERT_TRUE(d.has_value());
    ASSERT_TRUE(Nack(*stub, *d, v1::BusError::HARDERROR).ok());
  }
  PublishKey(*stub, "del-2", "request.gapps.account.create");
  PublishKey(*stub, "del-3", "request.gapps.account.create");
  // The closed stream is detached on the server a moment after the client
  // cancels it: a publish just before that may hand it a message, which its
  // detach then puts back. Wait (5 s at most) for the queue to settle.
  for (int i = 0; i < 250 && GetSub(*stub, "gone_job_q").ready_count() != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(GetSub(*stub, "gone_job_q").ready_count(), 2);
  ASSERT_EQ(GetSub(*stub, "gone_job_q").dead_letter_count(), 1);
  {
    grpc::ClientContext ctx;
    v1::DeleteSubscriptionRequest req;
    req.set_request_id(NewRequestId());
    req.set_name("subscriptions/gone_job_q");
    v1::Subscription out;
    ASSERT_TRUE(stub->DeleteSubscription(&ctx, req, &out).ok());
  }
  CreateSubscriptionOk(*stub, "gone_job_q", "request.gapps.#");
  v1::Subscription fresh = GetSub(*stub, "gone_job_q");
  EXPECT_EQ(fresh.ready_count(), 0) << "the deleted subscription's messages came back";
  EXPECT_EQ(fresh.dead_letter_count(), 0) << "the deleted subscription's dead letters stayed";
  EXPECT_EQ(DeadLetters(*stub, "gone_job_q").dead_letters_size(), 0);
  SubscriberThread reader(*stub, "gone_job_q");
  PublishKey(*stub, "del-4", "request.gapps.account.create");
  auto d = reader.Next();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->envelope().event_uuid(), "del-4");
  EXPECT_FALSE(reader.Next(300).has_value());
  EXPECT_EQ(GetSub(*stub, "kept_job_q").ready_count(), 4) << "another subscription lost messages";
}

TEST(Bus, UnansweredDeliveryComesBackAfterTheVisibilityTimeout) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  CreateSubscriptionOk(*stub, "q", "#", 100, 48, /*visibility_ms=*/300);
  PublishKey(*stub, "vis-1", "a.b");
  SubscriberThread reader(*stub, "q");
  auto first = reader.Next();
  ASSERT_TRUE(first.has_value());
  auto second = reader.Next(3000);
  ASSERT_TRUE(second.has_value()) << "not redelivered after the visibility timeout";
  EXPECT_EQ(second->envelope().event_uuid(), "vis-1");
  EXPECT_EQ(second->attempt(), 2);
  EXPECT_NE(second->delivery_id(), first->delivery_id());
  EXPECT_EQ(Ack(*stub, *first).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Ack(*stub, *second).ok());
}

TEST(Bus, DroppedStreamGivesItsDeliveriesToTheNextSubscriber) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  CreateSubscriptionOk(*stub, "q", "#");  // visibility 60 s: only the drop can bring it back
  PublishKey(*stub, "drop-1", "a.b");
  {
    SubscriberThread first(*stub, "q");
    ASSERT_TRUE(first.Next().has_value());
    first.Stop();
  }
  SubscriberThread second(*stub, "q");
  auto d = second.Next(5000);
  ASSERT_TRUE(d.has_value()) << "the dropped stream's delivery did not come back";
  EXPECT_EQ(d->envelope().event_uuid(), "drop-1");
  EXPECT_EQ(d->attempt(), 2);
}

TEST(Bus, QueuesSoftErrorsAndDeadLettersSurviveARestart) {
  TempDir dir;
  {
    TestServer ts(dir.path());
    auto stub = ts.Notification();
    CreateSubscriptionOk(*stub, "q", "a.#", /*retry_delay_ms=*/500, 5);
    CreateSubscriptionOk(*stub, "dl", "x.#");
    PublishKey(*stub, "r1", "a.b");
    PublishKey(*stub, "r2", "a.c");
    PublishKey(*stub, "r3", "x.y");
    SubscriberThread reader(*stub, "q");
    auto d = reader.Next();
    ASSERT_TRUE(d.has_value());
    ASSERT_EQ(d->envelope().event_uuid(), "r1");
    ASSERT_TRUE(Nack(*stub, *d, v1::BusError::SOFTERROR).ok());
    SubscriberThread dl(*stub, "dl");
    auto x = dl.Next();
    ASSERT_TRUE(x.has_value());
    ASSERT_TRUE(Nack(*stub, *x, v1::BusError::HARDERROR).ok());
    // r2 is in flight on `reader` when the server stops.
    ASSERT_TRUE(reader.Next().has_value());
  }
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  EXPECT_EQ(GetSub(*stub, "dl").dead_letter_count(), 1);
  SubscriberThread reader(*stub, "q");
  std::map<std::string, v1::Delivery> got;
  for (int i = 0; i < 2; ++i) {
    auto d = reader.Next(5000);
    ASSERT_TRUE(d.has_value()) << "message lost across the restart";
    got[d->envelope().event_uuid()] = *d;
    EXPECT_TRUE(Ack(*stub, *d).ok());
  }
  ASSERT_EQ(got.count("r1"), 1u);
  ASSERT_EQ(got.count("r2"), 1u);
  EXPECT_EQ(got["r1"].softfail_count(), 1);
  EXPECT_EQ(got["r1"].envelope().errors_size(), 1);
}

TEST(Bus, BadInputIsRejectedNamingTheField) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  {
    grpc::ClientContext ctx;
    v1::CreateSubscriptionRequest req;
    req.set_request_id(NewRequestId());
    req.mutable_subscription()->set_queue("q");
    req.mutable_subscription()->add_bindings("a..b");
    v1::Subscription out;
    grpc::Status s = stub->CreateSubscription(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("bindings[0]"), std::string::npos) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::CreateSubscriptionRequest req;
    req.set_request_id(NewRequestId());
    req.mutable_subscription()->set_queue("bad/queue");
    req.mutable_subscription()->add_bindings("#");
    v1::Subscription out;
    grpc::Status s = stub->CreateSubscription(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("subscription.queue"), std::string::npos) << s.error_message();
  }
  {  // Nothing was stored by the failed creations.
    grpc::ClientContext ctx;
    v1::ListSubscriptionsResponse out;
    ASSERT_TRUE(stub->ListSubscriptions(&ctx, v1::ListSubscriptionsRequest(), &out).ok());
    EXPECT_EQ(out.subscriptions_size(), 0);
  }
  CreateSubscriptionOk(*stub, "q", "#");
  PublishKey(*stub, "b1", "a.b");
  SubscriberThread reader(*stub, "q");
  auto d = reader.Next();
  ASSERT_TRUE(d.has_value());
  grpc::Status s = Nack(*stub, *d, v1::BusError::WARNING);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("error_type"), std::string::npos) << s.error_message();
  // The refused Nack left the delivery outstanding: it can still be acked.
  EXPECT_TRUE(Ack(*stub, *d).ok());
  {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("b2", "a..b");
    v1::PublishResponse out;
    grpc::Status ps = stub->Publish(&ctx, req, &out);
    EXPECT_EQ(ps.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(ps.error_message().find("event_name"), std::string::npos) << ps.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::SubscribeRequest req;
    req.set_subscription("subscriptions/nope");
    auto r = stub->Subscribe(&ctx, req);
    v1::Delivery dd;
    EXPECT_FALSE(r->Read(&dd));
    EXPECT_EQ(r->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

}  // namespace
}  // namespace switchboard::testing
