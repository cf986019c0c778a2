#include "gateway/eventgrid/event.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/uuid.h"
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


std::string NowRfc3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
}

Event NewResponse(std::string event_type, std::string subject, json data) {
  Event e;
  e.id = NewUuid();
  e.event_type = std::move(event_type);
  e.subject = std::move(subject);
  e.event_time = NowRfc3339();
  e.data_version = "1.0";
  e.data = std::move(data);
  return e;
}

}  // namespace switchboard::gateway::eventgrid
