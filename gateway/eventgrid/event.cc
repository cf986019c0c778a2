#include "gateway/eventgrid/event.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/codecs/json_util.h"

namespace switchboard::gateway::eventgrid {

using nlohmann::json;

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
