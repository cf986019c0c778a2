#include "wire/json_util.h"

#include <cmath>
#include <limits>
#include <set>
#include <vector>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;

// The DOM builder of nlohmann::json, built without exceptions, keeping the
// parse error's text (position and reason) that json::parse(..., false)
// would throw away, and refusing duplicate keys (nlohmann keeps the last
// one silently; another reader may keep the first) with their path.
class RecordingSaxParser : public nlohmann::detail::json_sax_dom_parser<json> {
  using Base = nlohmann::detail::json_sax_dom_parser<json>;

 public:
  explicit RecordingSaxParser(json& root) : Base(root, /*allow_exceptions_=*/false) {}

  bool null() { return Value() && Base::null(); }
  bool boolean(bool v) { return Value() && Base::boolean(v); }
  bool number_integer(json::number_integer_t v) { return Value() && Base::number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return Value() && Base::number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& text) {
    return Value() && Base::number_float(v, text);
  }
  bool string(json::string_t& v) { return Value() && Base::string(v); }
  bool binary(json::binary_t& v) { return Value() && Base::binary(v); }
  bool start_object(std::size_t n) {
    if (!Value()) return false;
    frames_.push_back(Frame{false, 0, {}, {}});
    return Base::start_object(n);
  }
  bool end_object() {
    frames_.pop_back();
    return Base::end_object();
  }
  bool start_array(std::size_t n) {
    if (!Value()) return false;
    frames_.push_back(Frame{true, 0, {}, {}});
    return Base::start_array(n);
  }
  bool end_array() {
    frames_.pop_back();
    return Base::end_array();
  }
  bool key(json::string_t& k) {
    Frame& f = frames_.back();
    if (!f.keys.insert(k).second) {
      std::string path;
      for (size_t i = 0; i + 1 < frames_.size(); ++i) AppendStep(&path, frames_[i]);
      error_ = absl::StrCat(FieldPath(path, k), ": duplicate key; each key may appear once in an object");
      duplicate_ = true;
      return false;
    }
    f.key = k;
    return Base::key(k);
  }

  template <class Exception>
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/, const Exception& ex) {
    error_ = ex.what();
    return false;
  }

  const std::string& error() const { return error_; }
  bool duplicate() const { return duplicate_; }

 private:
  struct Frame {
    bool array;
    size_t count;  // arrays: values so far
    std::set<std::string> keys;  // objects: keys so far
    std::string key;  // objects: the key of the value being read
  };

  // Every value counts in its array, for the index in the path.
  bool Value() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
    return true;
  }

  static void AppendStep(std::string* path, const Frame& f) {
    if (f.array) {
      absl::StrAppend(path, "[", f.count - 1, "]");
    } else {
      *path = FieldPath(*path, f.key);
    }
  }

  std::vector<Frame> frames_;
  std::string error_;
  bool duplicate_ = false;
};

// Drops nlohmann's "[json.exception.parse_error.101] " prefix.
std::string TrimExceptionPrefix(std::string text) {
  if (!text.empty() && text[0] == '[') {
    if (auto end = text.find("] "); end != std::string::npos) text.erase(0, end + 2);
  }
  return text;
}

constexpr double kMaxExactDouble = 9007199254740992.0;  // 2^53

// Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

bool ReadDigits(absl::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

absl::StatusOr<google::protobuf::Value> JsonToValueAt(const json& value, absl::string_view field, int depth);

absl::StatusOr<google::protobuf::Struct> JsonToStructAt(const json& object, absl::string_view field, int depth) {
  if (!object.is_object()) {
    return FieldError(field, absl::StrCat("must be a JSON object, got ", JsonTypeName(object)));
  }
  if (depth > kMaxStructDepth) {
    return FieldError(field, absl::StrCat("nested deeper than ", kMaxStructDepth, " levels"));
  }
  google::protobuf::Struct out;
  for (auto it = object.begin(); it != object.end(); ++it) {
    auto v = JsonToValueAt(it.value(), FieldPath(field, it.key()), depth);
    if (!v.ok()) return v.status();
    (*out.mutable_fields())[it.key()] = std::move(*v);
  }
  return out;
}

absl::StatusOr<google::protobuf::Value> JsonToValueAt(const json& value, absl::string_view field, int depth) {
  google::protobuf::Value out;
  switch (value.type()) {
    case json::value_t::null:
      out.set_null_value(google::protobuf::NULL_VALUE);
      break;
    case json::value_t::boolean:
      out.set_bool_value(value.get<bool>());
      break;
    case json::value_t::number_integer:
      out.set_number_value(static_cast<double>(value.get<int64_t>()));
      break;
    case json::value_t::number_unsigned:
      out.set_number_value(static_cast<double>(value.get<uint64_t>()));
      break;
    case json::value_t::number_float:
      out.set_number_value(value.get<double>());
      break;
    case json::value_t::string:
      out.set_string_value(value.get_ref<const std::string&>());
      break;
    case json::value_t::object: {
      auto s = JsonToStructAt(value, field, depth + 1);
      if (!s.ok()) return s.status();
      *out.mutable_struct_value() = std::move(*s);
      break;
    }
    case json::value_t::array: {
      if (depth + 1 > kMaxStructDepth) {
        return FieldError(field, absl::StrCat("nested deeper than ", kMaxStructDepth, " levels"));
      }
      auto* list = out.mutable_list_value();
      size_t i = 0;
      for (const auto& item : value) {
        auto v = JsonToValueAt(item, absl::StrCat(field, "[", i++, "]"), depth + 1);
        if (!v.ok()) return v.status();
        *list->add_values() = std::move(*v);
      }
      break;
    }
    case json::value_t::binary:
    case json::value_t::discarded:
      return FieldError(field, "is not a JSON value");
  }
  return out;
}

}  // namespace

absl::StatusOr<json> ParseJson(absl::string_view text) {
  json root;
  RecordingSaxParser sax(root);
  bool ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, /*strict=*/true,
                            /*ignore_comments=*/false);
  if (!ok && sax.duplicate()) return absl::InvalidArgumentError(sax.error());
  if (!ok) {
    std::string why = sax.error().empty() ? "parse error" : TrimExceptionPrefix(sax.error());
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", why));
  }
  return root;
}

const char* JsonTypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    case json::value_t::null:
      return "null";
    default:
      return "invalid value";
  }
}

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

std::string FieldPath(absl::string_view prefix, absl::string_view key) {
  return prefix.empty() ? std::string(key) : absl::StrCat(prefix, ".", key);
}

absl::Status RejectUnknownKeys(const json& object, absl::string_view prefix,
                               std::initializer_list<absl::string_view> allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool known = false;
    for (absl::string_view a : allowed) known = known || a == it.key();
    if (!known) {
      return FieldError(FieldPath(prefix, it.key()),
                        absl::StrCat("unknown key; expected one of ", absl::StrJoin(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

const json* FindMember(const json& object, absl::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<const json*> RequireMember(const json& object, absl::string_view key, absl::string_view field) {
  auto it = object.find(key);
  if (it == object.end()) return FieldError(field, "required key is missing");
  if (it->is_null()) return FieldError(field, "must not be null");
  return &*it;
}

absl::StatusOr<std::string> RequireString(const json& object, absl::string_view key, absl::string_view field,
                                          bool allow_empty) {
  auto member = RequireMember(object, key, field);
  if (!member.ok()) return member.status();
  const json& v = **member;
  if (!v.is_string()) return FieldError(field, absl::StrCat("must be a string, got ", JsonTypeName(v)));
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() && !allow_empty) return FieldError(field, "must not be empty");
  return s;
}

absl::StatusOr<int64_t> JsonToInt(const json& value, absl::string_view field, int64_t min, int64_t max) {
  int64_t n = 0;
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return FieldError(field, absl::StrCat("must be at most ", max, ", got ", u));
    }
    n = static_cast<int64_t>(u);
  } else if (value.is_number_integer()) {
    n = value.get<int64_t>();
  } else {
    return FieldError(
        field, absl::StrCat("must be an integer, got ", value.is_number_float() ? value.dump() : JsonTypeName(value)));
  }
  if (n < min || n > max) {
    return FieldError(field, absl::StrCat("must be between ", min, " and ", max, ", got ", n));
  }
  return n;
}

absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view s) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", s, "' is not an ISO 8601 date-time with an offset such as 2016-05-29T15:03:50+00:00 (", why, ")"));
  };
  int year, month, day, hour, minute, second;
  if (!ReadDigits(s, 0, 4, &year) || s.size() < 5 || s[4] != '-' || !ReadDigits(s, 5, 2, &month) || s.size() < 8 ||
      s[7] != '-' || !ReadDigits(s, 8, 2, &day)) {
    return bad("the date must be YYYY-MM-DD");
  }
  if (s.size() < 11 || (s[10] != 'T' && s[10] != 't')) return bad("'T' must separate date and time");
  if (!ReadDigits(s, 11, 2, &hour) || s.size() < 14 || s[13] != ':' || !ReadDigits(s, 14, 2, &minute) ||
      s.size() < 17 || s[16] != ':' || !ReadDigits(s, 17, 2, &second)) {
    return bad("the time must be hh:mm:ss");
  }
  if (year < 1) return bad("year must be 0001 to 9999");
  if (month < 1 || month > 12) return bad("month must be 01 to 12");
  if (day < 1 || day > DaysInMonth(year, month)) return bad("no such day in that month");
  if (hour > 23 || minute > 59 || second > 59) return bad("time of day out of range");
  size_t pos = 19;
  int32_t nanos = 0;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      // Digits past nanoseconds are dropped: Timestamp cannot hold them.
      if (digits < 9) nanos = nanos * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad("a fraction of a second needs digits");
    for (size_t d = digits; d < 9; ++d) nanos *= 10;
  }
  if (pos >= s.size()) return bad("the offset is missing; add Z or +00:00");
  int offset_seconds = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int sign = s[pos] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!ReadDigits(s, pos + 1, 2, &oh)) return bad("the offset must be +hh:mm or -hh:mm");
    pos += 3;
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (pos < s.size()) {
      if (!ReadDigits(s, pos, 2, &om)) return bad("the offset must be +hh:mm or -hh:mm");
      pos += 2;
    }
    if (oh > 23 || om > 59) return bad("offset out of range");
    offset_seconds = sign * (oh * 3600 + om * 60);
  } else {
    return bad("the offset must be Z, +hh:mm or -hh:mm");
  }
  if (pos != s.size()) return bad("unexpected text after the offset");

  absl::Time t = absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second), absl::UTCTimeZone());
  int64_t seconds = absl::ToUnixSeconds(t) - offset_seconds;
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
    return bad("outside 0001-01-01 to 9999-12-31 UTC");
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(nanos);
  return ts;
}

std::string FormatRfc3339(const google::protobuf::Timestamp& ts, UtcSuffix suffix) {
  // The digits are written directly: absl::FormatTime's strftime-style
  // formatting cost more than the rest of a response event.
  absl::CivilSecond c = absl::ToCivilSecond(absl::FromUnixSeconds(ts.seconds()), absl::UTCTimeZone());
  char text[] = "0000-00-00T00:00:00";
  auto put = [&text](size_t at, int64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10) text[at + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
  };
  put(0, c.year(), 4);
  put(5, c.month(), 2);
  put(8, c.day(), 2);
  put(11, c.hour(), 2);
  put(14, c.minute(), 2);
  put(17, c.second(), 2);
  std::string out(text, sizeof text - 1);
  int32_t nanos = ts.nanos();
  if (nanos > 0 && nanos < 1000000000) {
    std::string frac = std::to_string(nanos);
    frac.insert(0, 9 - frac.size(), '0');
    if (nanos % 1000000 == 0) {
      frac.resize(3);
    } else if (nanos % 1000 == 0) {
      frac.resize(6);
    }
    absl::StrAppend(&out, ".", frac);
  }
  out += suffix == UtcSuffix::kZ ? "Z" : "+00:00";
  return out;
}

absl::StatusOr<google::protobuf::Struct> JsonToStruct(const json& object, absl::string_view field) {
  return JsonToStructAt(object, field, 1);
}

absl::StatusOr<google::protobuf::Value> JsonToValue(const json& value, absl::string_view field) {
  return JsonToValueAt(value, field, 0);
}

json StructToJson(const google::protobuf::Struct& s) {
  json out = json::object();
  for (const auto& [key, value] : s.fields()) out[key] = ValueToJson(value);
  return out;
}

json ValueToJson(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kBoolValue:
      return v.bool_value();
    case google::protobuf::Value::kNumberValue: {
      double d = v.number_value();
      if (!std::isfinite(d)) return nullptr;
      if (std::trunc(d) == d && std::fabs(d) <= kMaxExactDouble) return static_cast<int64_t>(d);
      return d;
    }
    case google::protobuf::Value::kStringValue:
      return v.string_value();
    case google::protobuf::Value::kStructValue:
      return StructToJson(v.struct_value());
    case google::protobuf::Value::kListValue: {
      json out = json::array();
      for (const auto& item : v.list_value().values()) out.push_back(ValueToJson(item));
      return out;
    }
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      break;
  }
  return nullptr;
}

}  // namespace switchboard::wire
