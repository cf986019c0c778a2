// The status bridge: resourcing, media and managed-app status changes appear
// on the bus under their documented routing keys, exactly once, also across
// a restart.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/notification/status_routes.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "switchboard/v1/resourcing.pb.h"
#include "tests/core/test_support.h"
#include "tests/notification/app_fixtures.h"
#include "tests/notification/bus_client.h"

namespace switchboard::testing {
namespace {

// A container named `id`, with `id` as its request_id.
void CreateContainerOk(v1::MediaService::Stub& media, const std::string& id) {
  grpc::ClientContext ctx;
  v1::CreateContainerRequest req;
  req.set_request_id(id);
  req.set_storage_account_name("devstoreaccount1");
  req.set_container_name(id);
  v1::Operation op;
  grpc::Status s = media.CreateContainer(&ctx, req, &op);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST(StatusBridge, ManagedAppChangesArePublishedUnderTheirRoutingKeys) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  CreateSubscriptionOk(*stub, "apps_q", "notify.managedapp.#");
  SubscriberThread sub(*stub, "apps_q");

  RecordOk(*stub, "put-accepted.service-catalog.json");
  RecordOk(*stub, "put-succeeded.service-catalog.json");
  RecordOk(*stub, "put-succeeded.service-catalog.json");  // a duplicate: no change, no event
  RecordOk(*stub, "delete-deleting.json");

  for (const char* want : {"notify.managedapp.put.accepted", "notify.managedapp.put.succeeded",
                           "notify.managedapp.delete.deleting"}) {
    auto d = sub.Next();
    ASSERT_TRUE(d.has_value()) << "no delivery for " << want;
    EXPECT_EQ(d->envelope().event_name(), want);
    EXPECT_EQ(d->envelope().event_sender_id(), "switchboard");
    EXPECT_TRUE(absl::StartsWith(d->envelope().event_uuid(), "switchboard-event-")) << d->envelope().event_uuid();
    const auto& data = d->envelope().data().fields();
    EXPECT_EQ(data.at("service").string_value(), "notification");
    EXPECT_EQ(data.at("kind").string_value(), "application");
    const auto& app = data.at("event").struct_value().fields().at("application").struct_value().fields();
    EXPECT_TRUE(absl::StrContains(app.at("name").string_value(), "applications/fish-analytics"));
    ASSERT_TRUE(Ack(*stub, *d).ok());
  }
  EXPECT_FALSE(sub.Next(300).has_value()) << "the duplicate must not be published";
}

TEST(StatusBridge, MediaOperationsArePublishedAndBusTrafficIsNot) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  CreateSubscriptionOk(*stub, "all_q", "#");
  SubscriberThread sub(*stub, "all_q");

  auto media = v1::MediaService::NewStub(ts.Channel());
  grpc::ClientContext ctx;
  v1::CreateContainerRequest req;
  req.set_request_id("cc-1");
  req.set_storage_account_name("devstoreaccount1");
  req.set_container_name("bridge-test");
  (*req.mutable_operation_context()->mutable_fields())["job"].set_string_value("42");
  v1::Operation op;
  grpc::Status s = media->CreateContainer(&ctx, req, &op);
  ASSERT_TRUE(s.ok()) << s.error_message();

  std::vector<std::string> names;
  while (auto d = sub.Next(1500)) {
    names.push_back(d->envelope().event_name());
    const auto& data = d->envelope().data().fields();
    EXPECT_EQ(data.at("service").string_value(), "media");
    // The operation context travels inside the bridged event.
    const auto& event = data.at("event").struct_value().fields();
    EXPECT_EQ(event.at("operation_context").struct_value().fields().at("job").string_value(), "42");
    ASSERT_TRUE(Ack(*stub, *d).ok());
  }
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "notify.switchboard.operation.acknowledged");
  EXPECT_EQ(names.back(), "notify.switchboard.operation.succeeded");
  // The bridged envelopes are themselves bus events: they are not bridged
  // again, so exactly the media events are on the bus.
  EXPECT_EQ(BusEvents(*stub, "#").size(), names.size());
}

TEST(StatusBridge, ChangesNoSubscriptionBindsAreNotPublished) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  // Bound to application changes only: media changes are not wanted.
  CreateSubscriptionOk(*stub, "apps_only", "notify.managedapp.#");
  SubscriberThread sub(*stub, "apps_only");
  auto media = v1::MediaService::NewStub(ts.Channel());
  auto create = [&](const std::string& id) { CreateContainerOk(*media, id); };
  create("unwanted-1");
  RecordOk(*stub, "put-accepted.service-catalog.json");
  // The application change comes through; it is later in the log than the
  // container's events, so the bridge has passed those by now.
  auto d = sub.Next();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->envelope().event_name(), "notify.managedapp.put.accepted");
  ASSERT_TRUE(Ack(*stub, *d).ok());
  EXPECT_TRUE(BusEvents(*stub, "notify.switchboard.#").empty()) << "media changes nobody binds were published";

  // Once a subscription binds them, media changes are published.
  CreateSubscriptionOk(*stub, "media_q", "notify.switchboard.operation.#");
  SubscriberThread media_sub(*stub, "media_q");
  create("wanted-2");
  auto m = media_sub.Next();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->envelope().event_name(), "notify.switchboard.operation.acknowledged");
}

TEST(StatusBridge, WithNothingBoundChangesArePassedByUntilASubscriptionBindsThem) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  auto media = v1::MediaService::NewStub(ts.Channel());
  auto create = [&](const std::string& id) { CreateContainerOk(*media, id); };
  // No subscription or webhook at all: the bridge passes the log by.
  create("nobody-1");
  create("nobody-2");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  CreateSubscriptionOk(*stub, "late_q", "notify.switchboard.operation.#");
  SubscriberThread sub(*stub, "late_q");
  create("bound-3");
  // Whatever the bridge had not passed by yet may come first; bound-3's
  // changes must come.
  bool acknowledged = false, succeeded = false;
  for (int i = 0; i < 10 && !(acknowledged && succeeded); ++i) {
    auto d = sub.Next();
    ASSERT_TRUE(d.has_value()) << "bound-3's changes were not published";
    const auto& event = d->envelope().data().fields().at("event").struct_value().fields();
    if (event.at("request_id").string_value() == "bound-3") {
      acknowledged |= d->envelope().event_name() == "notify.switchboard.operation.acknowledged";
      succeeded |= d->envelope().event_name() == "notify.switchboard.operation.succeeded";
    }
    ASSERT_TRUE(Ack(*stub, *d).ok());
  }
  EXPECT_TRUE(acknowledged && succeeded);
}

TEST(StatusBridge, ARestartPublishesEachChangeExactlyOnce) {
  TempDir dir;
  size_t before = 0;
  {
    TestServer ts(dir.path());
    auto stub = ts.Notification();
    // Durable: it binds the changes across the restart too.
    CreateSubscriptionOk(*stub, "keep_q", "notify.managedapp.#");
    RecordOk(*stub, "put-accepted.service-catalog.json");
    RecordOk(*stub, "put-succeeded.service-catalog.json");
    for (int i = 0; i < 100 && BusEvents(*stub, "notify.managedapp.#").size() < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    before = BusEvents(*stub, "notify.managedapp.#").size();
    ASSERT_EQ(before, 2u);
  }
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  RecordOk(*stub, "delete-deleting.json");
  for (int i = 0; i < 100 && BusEvents(*stub, "notify.managedapp.#").size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto events = BusEvents(*stub, "notify.managedapp.#");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].envelope().event_name(), "notify.managedapp.delete.deleting");
}

TEST(StatusRoutes, AllKeysListsEveryKeyOnce) {
  const auto& keys = notification::AllStatusRoutingKeys();
  // 5 resourcing, 4 operation, 6 encode, 2 storage, 3 x 5 managed-app.
  EXPECT_EQ(keys.size(), 32u);
  for (const char* want : {"notify.switchboard.run.updated", "notify.switchboard.pipeline.updated",
                           "notify.switchboard.operation.acknowledged", "notify.switchboard.operation.failed",
                           "notify.switchboard.encode.dispatched", "notify.switchboard.encode.failure",
                           "notify.switchboard.storage.blobdeleted", "notify.managedapp.put.accepted",
                           "notify.managedapp.delete.deleted"}) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), want), keys.end()) << want;
  }
  for (const auto& k : keys) EXPECT_EQ(std::count(keys.begin(), keys.end(), k), 1) << k;
}

TEST(StatusRoutes, KeysForEveryKindAndNoneForBusTraffic) {
  auto record = [](const std::string& service, const std::string& kind, const google::protobuf::Message& m) {
    core::EventRecord r;
    r.sequence = 7;
    r.service = service;
    r.kind = kind;
    r.data = m.SerializeAsString();
    return r;
  };
  v1::MediaEvent media;
  media.mutable_encode()->set_state(v1::ENCODE_CANCELED);
  EXPECT_EQ(*notification::StatusRoutingKey(record("media", "encode", media)), "notify.switchboard.encode.canceled");
  media.mutable_storage()->set_kind(v1::StorageEvent::BLOB_CREATED);
  EXPECT_EQ(*notification::StatusRoutingKey(record("media", "storage", media)),
            "notify.switchboard.storage.blobcreated");
  media.mutable_failure();
  EXPECT_EQ(*notification::StatusRoutingKey(record("media", "failure", media)), "notify.switchboard.operation.failed");

  v1::ResourcingEvent res;
  res.mutable_workspace();
  EXPECT_EQ(*notification::StatusRoutingKey(record("resourcing", "workspace", res)),
            "notify.switchboard.workspace.updated");
  res.mutable_pull_request();
  EXPECT_EQ(*notification::StatusRoutingKey(record("resourcing", "pull_request", res)),
            "notify.switchboard.pullrequest.updated");

  v1::NotificationEvent note;
  note.mutable_bus_event();
  EXPECT_FALSE(notification::StatusRoutingKey(record("notification", "bus_event", note))->has_value());
  note.mutable_delivery();
  EXPECT_FALSE(notification::StatusRoutingKey(record("notification", "delivery", note))->has_value());
  auto* n = note.mutable_application()->add_history();
  n->set_event_type(v1::PATCH);
  n->set_provisioning_state(v1::PROVISIONING_SUCCEEDED);
  EXPECT_EQ(*notification::StatusRoutingKey(record("notification", "application", note)),
            "notify.managedapp.patch.succeeded");

  core::EventRecord garbage = record("media", "encode", media);
  garbage.data = "\xff\xff\xff";
  EXPECT_EQ(notification::StatusRoutingKey(garbage).status().code(), absl::StatusCode::kInvalidArgument);

  // An oversized event goes without its body, marked truncated.
  v1::MediaEvent big;
  big.mutable_succeeded()->set_name(std::string(2000, 'x'));
  auto env =
      notification::StatusEnvelope(record("media", "succeeded", big), [](const std::string&) { return true; }, 1000);
  ASSERT_TRUE(env.ok() && env->has_value());
  EXPECT_TRUE((*env)->data().fields().at("truncated").bool_value());
  EXPECT_EQ((*env)->data().fields().count("event"), 0u);
  EXPECT_EQ((*env)->event_uuid(), "switchboard-event-7");
}

}  // namespace
}  // namespace switchboard::testing
