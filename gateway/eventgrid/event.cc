#include "gateway/eventgrid/event.h"

#include <algorithm>

#include "wire/json_util.h"

namespace switchboard::gateway::eventgrid {

using nlohmann::json;

namespace {

void AppendString(std::string* out, const std::string& s) {
  // Ids, times, types and most subjects are printable ASCII with nothing to
  // escape; anything else goes through nlohmann (escapes, invalid UTF-8).
  bool plain = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    *out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  out->push_back('"');
  *out += s;
  out->push_back('"');
}

}  // namespace

std::string Serialize(const Event& e) {
  std::string out = "{\"data\":";
  out += e.data.dump(-1, ' ', false, json::error_handler_t::replace);
  out += ",\"dataVersion\":";
  AppendString(&out, e.data_version);
  out += ",\"eventTime\":";
  AppendString(&out, e.event_time);
  out += ",\"eventType\":";
  AppendString(&out, e.event_type);
  out += ",\"id\":";
  AppendString(&out, e.id);
  out += ",\"metadataVersion\":\"1\",\"subject\":";
  AppendString(&out, e.subject);
  if (!e.topic.empty()) {
    out += ",\"topic\":";
    AppendString(&out, e.topic);
  }
  out.push_back('}');
  return out;
}

Event FromJson(json in) {
  Event e;
  auto str = [&in](const char* key) {
    auto it = in.find(key);
    return it != in.end() && it->is_string() ? std::move(it->get_ref<std::string&>()) : std::string();
  };
  e.id = str("id");
  e.topic = str("topic");
  e.subject = str("subject");
  e.event_type = str("eventType");
  e.event_time = str("eventTime");
  e.data_version = str("dataVersion");
  if (auto it = in.find("data"); it != in.end()) e.data = std::move(*it);
  return e;
}

}  // namespace switchboard::gateway::eventgrid
