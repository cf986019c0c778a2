#include "wire/gorg_envelope.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "wire/json_util.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(SB_FIXTURES_DIR) + "/gorg/" + name);
  EXPECT_TRUE(in.good()) << "missing fixture " << name << " under " << SB_FIXTURES_DIR;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares an encoded envelope with the fixture it came from, key by key,
// so that a failure names the field that differs.
void ExpectSameEnvelope(const json& want, const json& got) {
  ASSERT_TRUE(got.is_object());
  for (auto it = want.begin(); it != want.end(); ++it) {
    ASSERT_TRUE(got.contains(it.key())) << "encoded envelope lacks " << it.key();
    if (it.key() == "errors") continue;
    EXPECT_EQ(got.at(it.key()), it.value()) << it.key();
  }
  for (auto it = got.begin(); it != got.end(); ++it) {
    EXPECT_TRUE(want.contains(it.key())) << "encoded envelope has extra key " << it.key();
  }
  if (!want.contains("errors")) return;
  ASSERT_EQ(got["errors"].size(), want["errors"].size());
  for (size_t i = 0; i < want["errors"].size(); ++i) {
    const json& we = want["errors"][i];
    const json& ge = got["errors"][i];
    EXPECT_EQ(ge.size(), we.size()) << "errors[" << i << "] key count";
    for (auto it = we.begin(); it != we.end(); ++it) {
      EXPECT_EQ(ge.value(it.key(), json()), it.value()) << "errors[" << i << "]." << it.key();
    }
  }
}

TEST(GorgEnvelopeGolden, RequestWithSoftError) {
  std::string text = ReadFixture("request.gapps.account.create.json");
  auto env = GorgEnvelopeFromJson(text);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->event_uuid(), "88d818a1-c77c-44e6-ad0c-8aa893468e94");
  EXPECT_EQ(env->event_name(), "request.gapps.account.create");
  EXPECT_EQ(env->event_creation_time().seconds(), 1464534230);  // 2016-05-29T15:03:50Z
  EXPECT_EQ(env->event_creation_time().nanos(), 0);
  EXPECT_EQ(env->event_sender_id(), "gram");
  ASSERT_EQ(env->data().fields().count("id"), 1u);
  EXPECT_EQ(env->data().fields().at("id").string_value(), "12453");
  EXPECT_EQ(env->errors_count(), 1);
  ASSERT_EQ(env->errors_size(), 1);
  const auto& e = env->errors(0);
  EXPECT_EQ(e.error_type(), v1::BusError::SOFTERROR);
  EXPECT_EQ(e.error_uuid(), "e157e1a0-2663-11e6-b67b-9e71128cae77");
  EXPECT_EQ(e.error_sender(), "gappsd");
  EXPECT_EQ(e.error_message(), "Google API Unavailable");
  EXPECT_EQ(e.timestamp().seconds(), 1464534230);
  EXPECT_EQ(e.error_debug().fields().at("id").string_value(), "12453");
  EXPECT_TRUE(e.error_code().empty());

  std::string encoded = GorgEnvelopeToJson(*env);
  json got = json::parse(encoded);
  ExpectSameEnvelope(json::parse(text), got);
  // Keys come out in the seed's order.
  EXPECT_EQ(encoded.rfind("{\"event_uuid\":", 0), 0u) << encoded;

  // Decoding the encoding gives the same message.
  auto again = GorgEnvelopeFromJson(encoded);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), env->SerializeAsString());
}

TEST(GorgEnvelopeGolden, NotificationWithoutErrors) {
  std::string text = ReadFixture("notify.gapps.account.updated.json");
  auto env = GorgEnvelopeFromJson(text);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->event_uuid(), "3f1e2d4c-5b6a-4978-8a1b-2c3d4e5f6a7b");
  EXPECT_EQ(env->event_name(), "notify.gapps.account.updated");
  EXPECT_EQ(env->event_creation_time().seconds(), 1464534312);  // 2016-05-29T15:05:12Z
  EXPECT_EQ(env->event_sender_id(), "gappsd");
  EXPECT_EQ(env->data().fields().at("id").string_value(), "12453");
  EXPECT_EQ(env->errors_count(), 0);
  EXPECT_EQ(env->errors_size(), 0);
  json got = json::parse(GorgEnvelopeToJson(*env));
  ExpectSameEnvelope(json::parse(text), got);
  EXPECT_FALSE(got.contains("errors_count"));
  EXPECT_FALSE(got.contains("errors"));
}

TEST(GorgEnvelope, ErrorCodeAndAllTypes) {
  json in = json::parse(ReadFixture("request.gapps.account.create.json"));
  json err = in["errors"][0];
  in["errors"] = json::array();
  for (const char* t : {"debug", "info", "warning", "softerror", "harderror"}) {
    err["error_type"] = t;
    in["errors"].push_back(err);
  }
  in["errors"][4]["error_code"] = "E42";
  in["errors"][3]["error_code"] = 503;
  in["errors_count"] = 5;
  auto env = GorgEnvelopeFromJson(in.dump());
  ASSERT_TRUE(env.ok()) << env.status();
  ASSERT_EQ(env->errors_size(), 5);
  EXPECT_EQ(env->errors(0).error_type(), v1::BusError::DEBUG);
  EXPECT_EQ(env->errors(1).error_type(), v1::BusError::INFO);
  EXPECT_EQ(env->errors(2).error_type(), v1::BusError::WARNING);
  EXPECT_EQ(env->errors(3).error_type(), v1::BusError::SOFTERROR);
  EXPECT_EQ(env->errors(4).error_type(), v1::BusError::HARDERROR);
  EXPECT_EQ(env->errors(4).error_code(), "E42");
  EXPECT_EQ(env->errors(3).error_code(), "503");
  json out = json::parse(GorgEnvelopeToJson(*env));
  EXPECT_EQ(out["errors"][4]["error_code"], "E42");
  EXPECT_FALSE(out["errors"][0].contains("error_code"));
  EXPECT_EQ(out["errors"][2]["error_type"], "warning");
}

TEST(GorgEnvelope, AcceptsOtherOffsetsAndNullOptionals) {
  json in = json::parse(ReadFixture("notify.gapps.account.updated.json"));
  in["event_creation_time"] = "2016-05-29T17:05:12.25+02:00";
  in["errors_count"] = nullptr;
  in["errors"] = nullptr;
  auto env = GorgEnvelopeFromJson(in.dump());
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->event_creation_time().seconds(), 1464534312);
  EXPECT_EQ(env->event_creation_time().nanos(), 250000000);
  EXPECT_EQ(json::parse(GorgEnvelopeToJson(*env))["event_creation_time"], "2016-05-29T15:05:12.250+00:00");
}

// Each bad input must be INVALID_ARGUMENT with a message starting with the
// field it names.
class GorgEnvelopeBad : public ::testing::Test {
 protected:
  void SetUp() override { base_ = json::parse(ReadFixture("request.gapps.account.create.json")); }

  void ExpectRejected(const json& in, const std::string& message_prefix) { ExpectRejected(in.dump(), message_prefix); }
  void ExpectRejected(const std::string& text, const std::string& message_prefix) {
    auto r = GorgEnvelopeFromJson(text);
    ASSERT_FALSE(r.ok()) << "accepted: " << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_EQ(std::string(r.status().message()).substr(0, message_prefix.size()), message_prefix) << r.status();
  }

  json base_;
};

TEST_F(GorgEnvelopeBad, ExtraTopLevelKey) {
  base_["priority"] = 5;
  ExpectRejected(base_, "priority: unknown key; expected one of event_uuid, event_name");
}

TEST_F(GorgEnvelopeBad, ExtraKeyInError) {
  base_["errors"][0]["severity"] = "high";
  ExpectRejected(base_, "errors[0].severity: unknown key");
}

TEST_F(GorgEnvelopeBad, DataNotAnObject) {
  for (json data : {json("12453"), json::array({1}), json(5), json(true)}) {
    base_["data"] = data;
    ExpectRejected(base_, "data: must be a JSON object, got ");
  }
  base_["data"] = nullptr;
  ExpectRejected(base_, "data: must not be null");
}

TEST_F(GorgEnvelopeBad, ErrorDebugNotAnObject) {
  base_["errors"][0]["error_debug"] = "x";
  ExpectRejected(base_, "errors[0].error_debug: must be a JSON object, got string");
}

TEST_F(GorgEnvelopeBad, BadErrorType) {
  base_["errors"][0]["error_type"] = "fatal";
  ExpectRejected(base_, "errors[0].error_type: 'fatal' is not one of debug, info, warning, softerror, harderror");
  base_["errors"][0]["error_type"] = "SoftError";
  ExpectRejected(base_, "errors[0].error_type: 'SoftError' is not one of");
  base_["errors"][0]["error_type"] = 4;
  ExpectRejected(base_, "errors[0].error_type: must be a string, got number");
}

TEST_F(GorgEnvelopeBad, EmptyRoutingKey) {
  base_["event_name"] = "";
  ExpectRejected(base_, "event_name: must not be empty");
}

TEST_F(GorgEnvelopeBad, EmptyWordInRoutingKey) {
  for (const char* key : {"a..b", ".a", "a.", "."}) {
    base_["event_name"] = key;
    ExpectRejected(base_, "event_name: '" + std::string(key) + "' has an empty word at position");
  }
  base_["event_name"] = "a..b";  // words counted from 0, as the server's binding check counts them
  ExpectRejected(base_, "event_name: 'a..b' has an empty word at position 1;");
}

TEST_F(GorgEnvelopeBad, RoutingKeyRulesSharedWithTheServer) {
  base_["event_name"] = "request.*.create";
  ExpectRejected(base_, "event_name: 'request.*.create' holds the wildcard '*'");
  base_["event_name"] = "request.#";
  ExpectRejected(base_, "event_name: 'request.#' holds the wildcard '#'");
  base_["event_name"] = std::string(256, 'a');
  ExpectRejected(base_, "event_name: is 256 bytes long; AMQP routing keys hold at most 255");
  base_["event_name"] = std::string(255, 'a');
  EXPECT_TRUE(GorgEnvelopeFromJson(base_.dump()).ok());
  base_["event_name"] = "testing_key";  // one word, as in the seed
  EXPECT_TRUE(GorgEnvelopeFromJson(base_.dump()).ok());
}

TEST_F(GorgEnvelopeBad, BadTimes) {
  json in = base_;
  in["event_creation_time"] = "2016-05-29T15:03:50";
  ExpectRejected(in, "event_creation_time: '2016-05-29T15:03:50' is not an ISO 8601 date-time");
  in["event_creation_time"] = "29/05/2016";
  ExpectRejected(in, "event_creation_time: '29/05/2016' is not an ISO 8601");
  in["event_creation_time"] = 1464534230;
  ExpectRejected(in, "event_creation_time: must be a string, got number");
  base_["errors"][0]["timestamp"] = "2016-02-30T00:00:00Z";
  ExpectRejected(base_, "errors[0].timestamp: '2016-02-30T00:00:00Z' is not an ISO 8601");
}

TEST_F(GorgEnvelopeBad, InvalidJson) {
  ExpectRejected(std::string("{\"event_uuid\": "), "invalid JSON: ");
  ExpectRejected(std::string("not json"), "invalid JSON: ");
  ExpectRejected(std::string("[1, 2]"), "envelope: must be a JSON object, got array");
}

TEST_F(GorgEnvelopeBad, MissingEachRequiredKey) {
  for (const char* key : {"event_uuid", "event_name", "event_creation_time", "event_sender_id", "data"}) {
    json in = base_;
    in.erase(key);
    ExpectRejected(in, std::string(key) + ": required key is missing");
  }
  for (const char* key : {"error_type", "error_uuid", "error_sender", "error_message", "timestamp", "error_debug"}) {
    json in = base_;
    in["errors"][0].erase(key);
    ExpectRejected(in, "errors[0]." + std::string(key) + ": required key is missing");
  }
}

TEST_F(GorgEnvelopeBad, EmptyRequiredStrings) {
  for (const char* key : {"event_uuid", "event_sender_id"}) {
    json in = base_;
    in[key] = "";
    ExpectRejected(in, std::string(key) + ": must not be empty");
  }
}

TEST_F(GorgEnvelopeBad, ErrorsShapes) {
  json in = base_;
  in["errors"] = json::object();
  ExpectRejected(in, "errors: must be a JSON array, got object");
  in["errors"] = json::array({"softerror"});
  ExpectRejected(in, "errors[0]: must be a JSON object, got string");
  in = base_;
  in["errors"].push_back(in["errors"][0]);
  in["errors"][1]["error_code"] = json::array();
  ExpectRejected(in, "errors[1].error_code: must be a string or an integer, got array");
}

TEST_F(GorgEnvelopeBad, ErrorsCount) {
  for (json n : {json(-1), json(1.5), json("1"), json(4294967296LL)}) {
    base_["errors_count"] = n;
    ExpectRejected(base_, "errors_count: must be");
  }
}

}  // namespace
}  // namespace switchboard::wire
