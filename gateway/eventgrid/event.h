#pragma once
// The Event Grid event schema (docs/wire-formats.md section 4): response events out.
// Batches in are parsed by the Event Grid codec; what `data` means for each
// eventType is the business of the codec and its handlers.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wire/eventgrid.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::gateway::eventgrid {

inline constexpr char kValidationEventType[] = "Microsoft.EventGrid.SubscriptionValidationEvent";

// One event: the codec's struct, so that inbound batches are parsed in one
// place (wire::ParseEventGridBatch) and handed to handlers as they are.
using Event = wire::EventGridEvent;

// Inbound batches: wire::ParseEventGridBatch (wire/eventgrid.h).

// The event as compact JSON, members in name order (as nlohmann writes an
// object), metadataVersion "1", no topic when it is empty; invalid UTF-8 is
// replaced with U+FFFD. Written directly, without building a document.
std::string Serialize(const Event& event);
// For response events built as JSON (by the codec): missing keys stay
// empty. `data` is moved out of `event`, not copied.
Event FromJson(nlohmann::json event);

// A response event with a new id: wire's one factory (wire/eventgrid.h).
using wire::NewResponse;

}  // namespace switchboard::gateway::eventgrid
