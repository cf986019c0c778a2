#include "gateway/eventgrid/event.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/codecs/json_util.h"

namespace switchboard::gateway::eventgrid {

using nlohmann::json;

namespace {

absl::Status OptionalString(const json& in, const char* key, const std::string& prefix, std::string* out) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) {
    return codecs::FieldError(absl::StrCat(prefix, ".", key),
                              absl::StrCat("must be a string, got ", codecs::JsonTypeName(*it)));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Event>> ParseBatch(absl::string_view body) {
  auto parsed = codecs::ParseJson(body);
  if (!parsed.ok()) return parsed.status();
  const json& in = *parsed;
  if (!in.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body: must be a JSON array of Event Grid events, got ", codecs::JsonTypeName(in)));
  }
  std::vector<Event> out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const json& e = in[i];
    std::string prefix = absl::StrCat("[", i, "]");
    if (!e.is_object()) {
      return codecs::FieldError(prefix, absl::StrCat("must be a JSON object, got ", codecs::JsonTypeName(e)));
    }
    Event ev;
    auto id = codecs::RequireString(e, "id", prefix + ".id");
    if (!id.ok()) return id.status();
    ev.id = std::move(*id);
    if (ev.id.size() > 128) return codecs::FieldError(prefix + ".id", "longer than 128 characters");
    auto type = codecs::RequireString(e, "eventType", prefix + ".eventType");
    if (!type.ok()) return type.status();
    ev.event_type = std::move(*type);
    for (auto [key, field] : {std::pair{"subject", &ev.subject}, std::pair{"topic", &ev.topic},
                              std::pair{"eventTime", &ev.event_time}, std::pair{"dataVersion", &ev.data_version}}) {
      if (auto s = OptionalString(e, key, prefix, field); !s.ok()) return s;
    }
    if (auto it = e.find("data"); it != e.end()) ev.data = *it;
    out.push_back(std::move(ev));
  }
  return out;
}

json ToJson(const Event& e) {
  json out = {{"id", e.id},
              {"topic", e.topic},
              {"subject", e.subject},
              {"eventType", e.event_type},
              {"eventTime", e.event_time},
              {"dataVersion", e.data_version},
              {"metadataVersion", "1"},
              {"data", e.data}};
  if (e.topic.empty()) out.erase("topic");
  return out;
}

Event FromJson(const json& in) {
  Event e;
  auto str = [&in](const char* key) {
    auto it = in.find(key);
    return it != in.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  e.id = str("id");
  e.topic = str("topic");
  e.subject = str("subject");
  e.event_type = str("eventType");
  e.event_time = str("eventTime");
  e.data_version = str("dataVersion");
  if (auto it = in.find("data"); it != in.end()) e.data = *it;
  return e;
}

std::string NewGuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                         b & 0xffffffffffffULL);
}

std::string NowRfc3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
}

Event NewResponse(std::string event_type, std::string subject, json data) {
  Event e;
  e.id = NewGuid();
  e.event_type = std::move(event_type);
  e.subject = std::move(subject);
  e.event_time = NowRfc3339();
  e.data_version = "1.0";
  e.data = std::move(data);
  return e;
}

}  // namespace switchboard::gateway::eventgrid
