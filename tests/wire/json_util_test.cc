#include "wire/json_util.h"

#include <gtest/gtest.h>

#include <string>

namespace switchboard::wire {
namespace {

using nlohmann::json;

TEST(ParseJson, ReportsWhereAndWhy) {
  auto r = ParseJson("{\"a\": }");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("invalid JSON: "), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("line 1"), std::string::npos) << r.status();
  EXPECT_EQ(r.status().message().find("[json.exception"), std::string::npos) << r.status();
}

TEST(ParseJson, RejectsTrailingGarbageEmptyInputAndBadUtf8) {
  EXPECT_FALSE(ParseJson("{} x").ok());
  EXPECT_FALSE(ParseJson("").ok());
  EXPECT_FALSE(ParseJson("\"\xff\"").ok());
  EXPECT_FALSE(ParseJson("1e999").ok());
}

TEST(ParseJson, RefusesDuplicateKeysNamingThemWithTheirPath) {
  auto r = ParseJson(R"({"a": 1, "a": 2})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "a: duplicate key; each key may appear once in an object");
  r = ParseJson(R"([{"x": 1}, [], {"o": {"k": 1, "n": [0, {"k": 1, "k": 1}]}}])");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "[2].o.n[1].k: duplicate key; each key may appear once in an object");
  // The same key in different objects, or in an object beside an array, is fine.
  EXPECT_TRUE(ParseJson(R"([{"k": 1}, {"k": 2, "o": {"k": 3}}, {"a": [1, 2], "b": {"a": 1}}])").ok());
}

TEST(ParseJson, SurvivesDeepNesting) {
  std::string deep(100000, '[');
  EXPECT_FALSE(ParseJson(deep).ok());
  deep += std::string(100000, ']');
  EXPECT_TRUE(ParseJson(deep).ok());
}

TEST(Rfc3339, ParsesOffsetsToUtc) {
  auto a = ParseRfc3339("2016-05-29T15:03:50+00:00");
  auto b = ParseRfc3339("2016-05-29T15:03:50Z");
  auto c = ParseRfc3339("2016-05-29T17:03:50+02:00");
  auto d = ParseRfc3339("2016-05-29T10:33:50-04:30");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(a->seconds(), 1464534230);
  EXPECT_EQ(b->seconds(), a->seconds());
  EXPECT_EQ(c->seconds(), a->seconds());
  EXPECT_EQ(d->seconds(), a->seconds());
}

TEST(Rfc3339, KeepsFractions) {
  auto t = ParseRfc3339("2019-08-14T19:20:08.1707163Z");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->nanos(), 170716300);
  EXPECT_EQ(FormatRfc3339(*t), "2019-08-14T19:20:08.170716300Z");
  auto ms = ParseRfc3339("2019-08-14T19:20:08.5+00:00");
  ASSERT_TRUE(ms.ok());
  EXPECT_EQ(FormatRfc3339(*ms, UtcSuffix::kOffset), "2019-08-14T19:20:08.500+00:00");
}

TEST(Rfc3339, FormatsTheWholeRangeWithItsDigits) {
  google::protobuf::Timestamp t;
  t.set_seconds(-62135596800);
  EXPECT_EQ(FormatRfc3339(t), "0001-01-01T00:00:00Z");
  t.set_seconds(253402300799);
  t.set_nanos(999999999);
  EXPECT_EQ(FormatRfc3339(t), "9999-12-31T23:59:59.999999999Z");
  t.set_seconds(951782400);  // a leap day
  t.set_nanos(0);
  EXPECT_EQ(FormatRfc3339(t), "2000-02-29T00:00:00Z");
}

TEST(Rfc3339, RejectsWithAReason) {
  for (const char* bad : {"2016-05-29T15:03:50", "2016-05-29 15:03:50Z", "2016-13-29T15:03:50Z", "2015-02-29T00:00:00Z",
                          "2016-05-29T24:00:00Z", "2016-05-29T15:03:50+25:00", "2016-05-29T15:03:50Zjunk", "yesterday",
                          "", "2016-05-29T15:03:50.Z", "0000-01-01T00:00:00Z"}) {
    auto r = ParseRfc3339(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find("ISO 8601"), std::string::npos) << r.status();
    }
  }
  EXPECT_TRUE(ParseRfc3339("2016-02-29T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("0001-01-01T00:00:00+01:00").ok()) << "before the Timestamp range";
}

TEST(StructJson, RoundTripsIntegersAsIntegers) {
  json in = json::parse(R"({"n": 5, "f": 1.5, "s": "x", "b": true, "z": null, "l": [1, {"k": []}]})");
  auto s = JsonToStruct(in, "data");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(StructToJson(*s), in);
  EXPECT_EQ(StructToJson(*s).dump(), in.dump());
}

TEST(StructJson, RejectsNonObjectsAndTooDeep) {
  auto r = JsonToStruct(json::array(), "data");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "data: must be a JSON object, got array");
  json deep = json::object();
  for (int i = 0; i < kMaxStructDepth + 5; ++i) deep = json{{"k", deep}};
  auto d = JsonToStruct(deep, "data");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("nested deeper than"), std::string::npos) << d.status();
}

}  // namespace
}  // namespace switchboard::wire
