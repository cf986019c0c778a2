#include "gateway/eventgrid/outbound.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "gateway/eventgrid/responses.h"
#include "gateway/http/metrics.h"

namespace switchboard::gateway::eventgrid {

using nlohmann::json;

namespace {

// Characters that end a URL or token inside free text.
bool Delimits(char c) {
  return absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' || c == '>';
}

// Read-only SAS permissions: read, list, find (by tags).
bool ReadOnly(absl::string_view sp) {
  if (sp.empty()) return false;  // not given: a stored policy may grant anything
  for (char c : sp) {
    if (c != 'r' && c != 'l' && c != 'f') return false;
  }
  return true;
}

Event Replacement(const Event& original, int log_event_id, const std::string& message) {
  // The original's data.operationContext is echoed (RequestFailure's
  // "request" is here the response it replaces).
  return wire::RequestFailure(original, wire::RawOperationContext(original), log_event_id, message, kGatewayHandler);
}

}  // namespace

bool HoldsWriteSas(absl::string_view text, std::string* permissions) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (size_t pos = lower.find("sig="); pos != std::string::npos; pos = lower.find("sig=", pos + 4)) {
    if (pos > 0 && lower[pos - 1] != '?' && lower[pos - 1] != '&') continue;  // e.g. "xsig="
    size_t begin = pos;
    while (begin > 0 && !Delimits(lower[begin - 1]) && lower[begin - 1] != '?') --begin;
    size_t end = pos;
    while (end < lower.size() && !Delimits(lower[end]) && lower[end] != '#') ++end;
    std::string sp;
    bool given = false;
    for (absl::string_view param : absl::StrSplit(absl::string_view(lower).substr(begin, end - begin), '&')) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(param, absl::MaxSplits('=', 1));
      if (kv.first == "sp") {
        sp = std::string(kv.second);
        given = true;
      }
    }
    if (!given || !ReadOnly(sp)) {
      if (permissions) *permissions = sp;
      return true;
    }
  }
  return false;
}

bool JsonHoldsWriteSas(const json& value, std::string* permissions) {
  switch (value.type()) {
    case json::value_t::string: return HoldsWriteSas(value.get_ref<const std::string&>(), permissions);
    case json::value_t::object:
    case json::value_t::array:
      for (const auto& v : value) {
        if (JsonHoldsWriteSas(v, permissions)) return true;
      }
      return false;
    default: return false;
  }
}

std::string TopicJson(const Event& event, const TopicLimits& limits, Metrics* metrics) {
  const TopicLimits l = limits.Clamped();
  const Event* out = &event;
  Event withheld;
  std::string sp;
  if (JsonHoldsWriteSas(event.data, &sp) || HoldsWriteSas(event.subject, &sp)) {
    // The URL itself is never logged.
    log::Error("response event holds a SAS URL that grants more than reading; a failure is published instead",
               {{"id", event.id}, {"event_type", event.event_type}, {"sp", sp}});
    if (metrics) metrics->RecordError("eventgrid_write_sas_withheld");
    withheld = Replacement(event, kFailureWriteSasWithheld,
                           absl::StrCat(event.event_type, " ", event.id,
                                        " was not published: it holds a SAS URL with permissions '", sp,
                                        "', and only read-only SAS URLs (r, l, f) are sent to the Event Grid topic; "
                                        "ask for a write SAS over gRPC (MediaService.CreateSasUrl)"));
    // The operationContext it echoes may be where the URL was.
    if (JsonHoldsWriteSas(withheld.data)) withheld.data["operationContext"] = nullptr;
    out = &withheld;
  }
  std::string text = Serialize(*out);
  if (text.size() + 2 <= l.max_bytes) return text;

  log::Error("response event larger than one Event Grid publish; a failure is published instead",
             {{"id", out->id}, {"event_type", out->event_type}, {"bytes", text.size()}, {"limit", l.max_bytes}});
  if (metrics) metrics->RecordError("eventgrid_event_too_large");
  Event big = Replacement(*out, kFailureEventTooLarge,
                          absl::StrCat(out->event_type, " ", out->id, " was not published: it is ", text.size(),
                                       " bytes, and one Event Grid publish holds at most ", l.max_bytes));
  text = Serialize(big);
  if (text.size() + 2 <= l.max_bytes) return text;
  big.data["operationContext"] = nullptr;  // the context itself is what is too large
  return Serialize(big);
}

void TopicBatch::Add(std::string json) {
  bytes_ += json.size() + (parts_.empty() ? 0 : 1);
  parts_.push_back(std::move(json));
}

std::string TopicBatch::Take() {
  std::string body;
  body.reserve(bytes_);
  body.push_back('[');
  body += absl::StrJoin(parts_, ",");
  body.push_back(']');
  parts_.clear();
  bytes_ = 2;
  return body;
}

std::vector<std::string> SplitForTopic(const std::vector<Event>& events, const TopicLimits& limits,
                                       Metrics* metrics) {
  std::vector<std::string> bodies;
  TopicBatch batch(limits);
  for (const Event& e : events) {
    std::string text = TopicJson(e, batch.limits(), metrics);
    if (!batch.Fits(text)) bodies.push_back(batch.Take());
    batch.Add(std::move(text));
  }
  if (!batch.empty()) bodies.push_back(batch.Take());
  return bodies;
}

}  // namespace switchboard::gateway::eventgrid
