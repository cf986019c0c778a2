// Managed-app notification codec: golden tests over every fixture in
// fixtures/managedapp (decode, encode, compare field by field) and one test
// per rule of docs/wire-formats.md section 5.

#include "wire/managed_app.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "wire/json_util.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Fixtures() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SB_FIXTURES_DIR) + "/managedapp")) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ManagedAppGolden, EveryFixtureDecodesAndEncodesBackFieldByField) {
  auto files = Fixtures();
  ASSERT_EQ(files.size(), 6u);
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    std::string text = ReadFile(path);
    auto n = ManagedAppNotificationFromJson(text);
    ASSERT_TRUE(n.ok()) << n.status();
    json want = json::parse(text);
    json got = json::parse(ManagedAppNotificationToJson(*n));
    // applicationId is normalized to start with "/".
    std::string id = want["applicationId"];
    if (id.front() != '/') id = "/" + id;
    want["applicationId"] = id;
    EXPECT_EQ(n->application_id(), id);
    for (auto it = want.begin(); it != want.end(); ++it) {
      ASSERT_TRUE(got.contains(it.key())) << "encoded lacks " << it.key();
      EXPECT_EQ(got[it.key()], it.value()) << it.key();
    }
    for (auto it = got.begin(); it != got.end(); ++it) {
      EXPECT_TRUE(want.contains(it.key())) << "encoded has extra " << it.key();
    }
    // Decoding the encoding gives the same message.
    auto again = ManagedAppNotificationFromJson(ManagedAppNotificationToJson(*n));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->SerializeAsString(), n->SerializeAsString());
  }
}

TEST(ManagedAppGolden, MarketplaceFailureFields) {
  auto n = ManagedAppNotificationFromJson(ReadFile(std::string(SB_FIXTURES_DIR) + "/managedapp/put-failed.marketplace.json"));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->event_type(), v1::PUT);
  EXPECT_EQ(n->provisioning_state(), v1::PROVISIONING_FAILED);
  EXPECT_EQ(n->billing_details().resource_usage_id(), "c2ad2a3e-9c1d-4b3e-8f6a-1d2c3b4a5e6f");
  EXPECT_EQ(n->plan().publisher(), "publisherId");
  EXPECT_EQ(n->plan().product(), "offer");
  EXPECT_EQ(n->plan().name(), "skuName");
  EXPECT_EQ(n->plan().version(), "1.0.1");
  EXPECT_EQ(n->error().code(), "ErrorCode");
  ASSERT_EQ(n->error().details_size(), 1);
  EXPECT_EQ(n->error().details(0).code(), "DetailedErrorCode");
  EXPECT_EQ(n->event_time().nanos(), 170716300);
  EXPECT_TRUE(n->application_definition_id().empty());
}

json Valid() {
  return json{{"eventType", "PUT"},
              {"applicationId", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Solutions/applications/a"},
              {"eventTime", "2019-08-14T19:20:08.1707163Z"},
              {"provisioningState", "Succeeded"}};
}

void ExpectRejected(const json& body, const std::string& field) {
  auto n = ManagedAppNotificationFromJson(body.dump());
  ASSERT_FALSE(n.ok()) << body.dump();
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(n.status().message()).rfind(field, 0), 0u) << n.status() << " should start with " << field;
}

TEST(ManagedAppRules, AllSevenValidPairsAndNoOther) {
  const char* types[] = {"PUT", "PATCH", "DELETE"};
  const char* states[] = {"Accepted", "Succeeded", "Failed", "Deleting", "Deleted"};
  std::set<std::string> valid = {"PUT Accepted",    "PUT Succeeded", "PUT Failed",   "PATCH Succeeded",
                                 "DELETE Deleting", "DELETE Deleted", "DELETE Failed"};
  int accepted = 0;
  for (const char* t : types) {
    for (const char* s : states) {
      json b = Valid();
      b["eventType"] = t;
      b["provisioningState"] = s;
      auto n = ManagedAppNotificationFromJson(b.dump());
      std::string pair = std::string(t) + " " + s;
      EXPECT_EQ(n.ok(), valid.count(pair) == 1) << pair << ": " << n.status();
      if (!n.ok()) {
        EXPECT_NE(n.status().message().find("valid pairs are"), std::string::npos);
      } else {
        ++accepted;
      }
    }
  }
  EXPECT_EQ(accepted, 7);
}

TEST(ManagedAppRules, EnumsAreCaseInsensitive) {
  json b = Valid();
  b["eventType"] = "put";
  b["provisioningState"] = "SUCCEEDED";
  auto n = ManagedAppNotificationFromJson(b.dump());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->event_type(), v1::PUT);
  EXPECT_EQ(n->provisioning_state(), v1::PROVISIONING_SUCCEEDED);
}

TEST(ManagedAppRules, RequiredFieldsNameThemselves) {
  for (const char* key : {"eventType", "applicationId", "eventTime", "provisioningState"}) {
    json b = Valid();
    b.erase(key);
    ExpectRejected(b, key);
    b = Valid();
    b[key] = 5;
    ExpectRejected(b, key);
  }
}

TEST(ManagedAppRules, BadValues) {
  json b = Valid();
  b["eventType"] = "POST";
  ExpectRejected(b, "eventType");
  b = Valid();
  b["provisioningState"] = "Running";
  ExpectRejected(b, "provisioningState");
  b = Valid();
  b["eventTime"] = "yesterday";
  ExpectRejected(b, "eventTime");
  b = Valid();
  b["eventTime"] = "2019-08-14T19:20:08";  // no offset
  ExpectRejected(b, "eventTime");
  for (const char* id : {"", "/", "/subscriptions/s", "/foo/bar/providers/Microsoft.Solutions/applications/a",
                         "/subscriptions/s/providers/Microsoft.Solutions/applications/",
                         "/subscriptions//rg/providers/Microsoft.Solutions/applications/a"}) {
    b = Valid();
    b["applicationId"] = id;
    ExpectRejected(b, "applicationId");
  }
  b = Valid();
  b["applicationId"] = "/subscriptions/s/providers/Microsoft.Solutions/applications/" + std::string(1100, 'a');
  ExpectRejected(b, "applicationId");
}

TEST(ManagedAppRules, OptionalMembersMustHaveTheirShape) {
  json b = Valid();
  b["plan"] = "gold";
  ExpectRejected(b, "plan");
  b = Valid();
  b["plan"] = {{"publisher", 1}};
  ExpectRejected(b, "plan.publisher");
  b = Valid();
  b["billingDetails"] = {{"resourceUsageId", false}};
  ExpectRejected(b, "billingDetails.resourceUsageId");
  b = Valid();
  b["error"] = {{"code", "E"}, {"details", {{{"code", 3}}}}};
  ExpectRejected(b, "error.details[0].code");
  b = Valid();
  b["error"] = {{"details", "x"}};
  ExpectRejected(b, "error.details");
  b = Valid();
  b["applicationDefinitionId"] = json::array();
  ExpectRejected(b, "applicationDefinitionId");
}

TEST(ManagedAppRules, NullsAndUnknownKeysAreIgnored) {
  json b = Valid();
  b["plan"] = nullptr;
  b["error"] = nullptr;
  b["somethingNew"] = {{"x", 1}};
  auto n = ManagedAppNotificationFromJson(b.dump());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_FALSE(n->has_plan());
  EXPECT_FALSE(n->has_error());
}

TEST(ManagedAppRules, NotJsonOrNotAnObject) {
  for (const char* text : {"", "{", "[]", "\"x\"", "null", "{\"eventType\":\"PUT\"", "\xff\xfe"}) {
    auto n = ManagedAppNotificationFromJson(text);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ManagedAppRules, TimesKeepDotNetPrecision) {
  json b = Valid();
  b["eventTime"] = "2019-08-14T21:20:08.17+02:00";
  auto n = ManagedAppNotificationFromJson(b.dump());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(json::parse(ManagedAppNotificationToJson(*n))["eventTime"], "2019-08-14T19:20:08.1700000Z");
  b["eventTime"] = "2019-08-14T19:20:08.123456789Z";
  n = ManagedAppNotificationFromJson(b.dump());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(json::parse(ManagedAppNotificationToJson(*n))["eventTime"], "2019-08-14T19:20:08.123456789Z");
}

}  // namespace
}  // namespace switchboard::wire
