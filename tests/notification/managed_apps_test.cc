// Managed-application lifecycle through a real in-process server: every
// fixture in order, reversed and duplicated ends in the same state; a failed
// provisioning keeps its error details; invalid pairs and ids are refused
// with nothing stored; watches see each change.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "tests/core/test_support.h"
#include "tests/notification/app_fixtures.h"

namespace switchboard::testing {
namespace {

const char* kOrder[] = {"put-accepted.service-catalog.json", "put-succeeded.service-catalog.json",
                        "put-failed.marketplace.json",       "patch-succeeded.json",
                        "delete-deleting.json",              "delete-deleted.json"};

v1::ManagedAppNotification Fixture(const std::string& file) { return AppFixture(file); }

grpc::Status Record(v1::NotificationService::Stub& stub, const v1::ManagedAppNotification& n,
                    v1::RecordManagedAppNotificationResponse* out = nullptr) {
  grpc::ClientContext ctx;
  v1::RecordManagedAppNotificationRequest req;
  req.set_request_id(NewRequestId());
  *req.mutable_notification() = n;
  v1::RecordManagedAppNotificationResponse resp;
  grpc::Status s = stub.RecordManagedAppNotification(&ctx, req, &resp);
  if (out) *out = resp;
  return s;
}

v1::Application OnlyApp(v1::NotificationService::Stub& stub) {
  grpc::ClientContext ctx;
  v1::ListApplicationsResponse resp;
  EXPECT_TRUE(stub.ListApplications(&ctx, v1::ListApplicationsRequest(), &resp).ok());
  EXPECT_EQ(resp.applications_size(), 1);
  return resp.applications_size() == 1 ? resp.applications(0) : v1::Application();
}

v1::Application RunSequence(const std::vector<std::string>& files) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  for (const auto& f : files) {
    grpc::Status s = Record(*stub, Fixture(f));
    EXPECT_TRUE(s.ok()) << f << ": " << s.error_message();
  }
  return OnlyApp(*stub);
}

TEST(ManagedApps, FixturesInOrderReversedAndDuplicatedEndTheSame) {
  std::vector<std::string> order(std::begin(kOrder), std::end(kOrder));
  std::vector<std::string> reversed(order.rbegin(), order.rend());
  std::vector<std::string> doubled;
  for (const auto& f : order) {
    doubled.push_back(f);
    doubled.push_back(f);
  }
  doubled.insert(doubled.end(), reversed.begin(), reversed.end());

  v1::Application a = RunSequence(order);
  v1::Application b = RunSequence(reversed);
  v1::Application c = RunSequence(doubled);
  for (const auto* app : {&a, &b, &c}) {
    EXPECT_EQ(app->state(), v1::Application::DELETED);
    EXPECT_EQ(app->history_size(), 6) << "duplicates must not enter the history";
    EXPECT_EQ(app->application_id(),
              "/subscriptions/5edeadbe-ef64-4022-a3aa-133bfef1d7a2/resourceGroups/apps-rg/providers/"
              "Microsoft.Solutions/applications/fish-analytics");
    EXPECT_EQ(app->state_time().seconds(), a.state_time().seconds());
    EXPECT_FALSE(app->has_error()) << "DELETED is not a failure";
    // Service catalog and marketplace fields are kept apart, both kept.
    EXPECT_NE(app->application_definition_id().find("analytics-def"), std::string::npos);
    EXPECT_EQ(app->plan().publisher(), "publisherId");
    EXPECT_EQ(app->billing_details().resource_usage_id(), "c2ad2a3e-9c1d-4b3e-8f6a-1d2c3b4a5e6f");
  }
  // Reversed: everything after the first (newest) arrival is stale.
  int stale = 0;
  for (const auto& h : b.history()) stale += h.stale();
  EXPECT_EQ(stale, 5);
}

TEST(ManagedApps, FailedProvisioningKeepsItsErrorDetailsAndDuplicatesChangeNothing) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  ASSERT_TRUE(Record(*stub, Fixture("put-accepted.service-catalog.json")).ok());
  v1::RecordManagedAppNotificationResponse resp;
  ASSERT_TRUE(Record(*stub, Fixture("put-failed.marketplace.json"), &resp).ok());
  EXPECT_EQ(resp.application().state(), v1::Application::FAILED);
  EXPECT_EQ(resp.application().error().code(), "ErrorCode");
  ASSERT_EQ(resp.application().error().details_size(), 1);
  EXPECT_EQ(resp.application().error().details(0).code(), "DetailedErrorCode");
  ASSERT_TRUE(Record(*stub, Fixture("put-failed.marketplace.json"), &resp).ok());
  EXPECT_TRUE(resp.duplicate());
  EXPECT_EQ(resp.application().history_size(), 2);

  grpc::ClientContext ctx;
  v1::GetApplicationRequest get;
  get.set_name(resp.application().name());
  v1::Application app;
  ASSERT_TRUE(stub->GetApplication(&ctx, get, &app).ok());
  EXPECT_EQ(app.state(), v1::Application::FAILED);

  // Filters: by state and by plan.
  grpc::ClientContext lctx;
  v1::ListApplicationsRequest list;
  list.set_state(v1::Application::SUCCEEDED);
  v1::ListApplicationsResponse listed;
  ASSERT_TRUE(stub->ListApplications(&lctx, list, &listed).ok());
  EXPECT_EQ(listed.applications_size(), 0);
  grpc::ClientContext pctx;
  list.Clear();
  list.mutable_plan()->set_publisher("publisherId");
  ASSERT_TRUE(stub->ListApplications(&pctx, list, &listed).ok());
  EXPECT_EQ(listed.applications_size(), 1);
}

TEST(ManagedApps, ARepeatedRequestIdIsAReplayAContentDuplicateIsNot) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  auto record = [&](const std::string& request_id, v1::RecordManagedAppNotificationResponse* out) {
    grpc::ClientContext ctx;
    v1::RecordManagedAppNotificationRequest req;
    req.set_request_id(request_id);
    *req.mutable_notification() = Fixture("put-accepted.service-catalog.json");
    grpc::Status s = stub->RecordManagedAppNotification(&ctx, req, out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    auto it = ctx.GetServerTrailingMetadata().find("x-switchboard-replayed");
    return it == ctx.GetServerTrailingMetadata().end() ? std::string()
                                                       : std::string(it->second.data(), it->second.size());
  };
  v1::RecordManagedAppNotificationResponse resp;
  EXPECT_EQ(record("app-1", &resp), "");
  EXPECT_FALSE(resp.duplicate());
  EXPECT_EQ(record("app-1", &resp), "true");
  EXPECT_TRUE(resp.duplicate());
  EXPECT_EQ(record("app-2", &resp), "") << "the same notification under a new id: a duplicate, not a replay";
  EXPECT_TRUE(resp.duplicate());
}

TEST(ManagedApps, WatchSeesEachStateChange) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  for (const char* f : {"put-accepted.service-catalog.json", "put-succeeded.service-catalog.json"}) {
    ASSERT_TRUE(Record(*stub, Fixture(f)).ok());
  }
  grpc::ClientContext ctx;
  v1::WatchApplicationsRequest req;
  auto reader = stub->WatchApplications(&ctx, req);
  v1::NotificationEvent e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.application().state(), v1::Application::ACCEPTED);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.application().state(), v1::Application::SUCCEEDED);
  ASSERT_TRUE(Record(*stub, Fixture("delete-deleting.json")).ok());
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.application().state(), v1::Application::DELETING);
  ctx.TryCancel();
}

TEST(ManagedApps, BadInputIsRefusedNamingTheFieldAndNothingIsStored) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  struct Case {
    const char* what;
    std::function<void(v1::ManagedAppNotification&)> spoil;
    const char* field;
  };
  std::vector<Case> cases = {
      {"PATCH Deleting", [](auto& n) { n.set_event_type(v1::PATCH); n.set_provisioning_state(v1::PROVISIONING_DELETING); },
       "event_type/provisioning_state"},
      {"no pair", [](auto& n) { n.clear_event_type(); }, "event_type/provisioning_state"},
      {"missing applicationId", [](auto& n) { n.clear_application_id(); }, "application_id"},
      {"not an application id", [](auto& n) { n.set_application_id("/subscriptions/x/resourceGroups/y"); },
       "application_id"},
      {"missing eventTime", [](auto& n) { n.clear_event_time(); }, "event_time"},
  };
  for (const auto& c : cases) {
    v1::ManagedAppNotification n = Fixture("put-accepted.service-catalog.json");
    c.spoil(n);
    grpc::Status s = Record(*stub, n);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos) << c.what << ": " << s.error_message();
  }
  grpc::ClientContext ctx;
  v1::ListApplicationsResponse resp;
  ASSERT_TRUE(stub->ListApplications(&ctx, v1::ListApplicationsRequest(), &resp).ok());
  EXPECT_EQ(resp.applications_size(), 0);
}

}  // namespace
}  // namespace switchboard::testing
