#pragma once
// The Event Grid event schema (WIRE.md section 4): batches in, response
// events out. Only the envelope is handled here; what `data` means for each
// eventType is the business of the Event Grid codec and its handlers.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::gateway::eventgrid {

inline constexpr char kValidationEventType[] = "Microsoft.EventGrid.SubscriptionValidationEvent";

struct Event {
  std::string id;
  std::string topic;
  std::string subject;
  std::string event_type;
  std::string event_time;
  std::string data_version;
  nlohmann::json data;  // null when absent
};

// Parses a POSTed body: a JSON array of events. Each needs a non-empty
// string `id` and `eventType`; `subject`, `topic`, `eventTime`,
// `dataVersion` and `metadataVersion` must be strings when present (any
// dataVersion is accepted). INVALID_ARGUMENT names the event and field, e.g.
// "[2].eventType: required key is missing".
absl::StatusOr<std::vector<Event>> ParseBatch(absl::string_view body);

nlohmann::json ToJson(const Event& event);
// The inverse, for response events built as JSON (by the codec): missing
// keys stay empty, metadataVersion defaults to "1".
Event FromJson(const nlohmann::json& event);

// A random (version 4) GUID, lower case.
std::string NewGuid();
// Now as "2026-11-22T10:00:00.123456Z".
std::string NowRfc3339();

// A response event with a new id, the current time, dataVersion "1.0" and
// metadataVersion "1". `subject` is used as given.
Event NewResponse(std::string event_type, std::string subject, nlohmann::json data);

}  // namespace switchboard::gateway::eventgrid
