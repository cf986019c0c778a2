#pragma once
// Which status events of the log go on the bus, under which routing key,
// and as what envelope. Pure functions: the StatusBridge does the I/O.
//
// Routing keys (docs/notification.md lists them with examples):
//   notify.managedapp.<put|patch|delete>.<accepted|succeeded|failed|deleting|deleted>
//   notify.switchboard.<run|workspace|status|pullrequest|pipeline>.updated      (resourcing)
//   notify.switchboard.operation.<acknowledged|scheduled|succeeded|failed>       (media)
//   notify.switchboard.encode.<dispatched|scheduled|processing|success|canceled|failure>
//   notify.switchboard.storage.<blobcreated|blobdeleted>
// Bus events, dead letters and webhook deliveries are never bridged: they are
// the bus's own traffic (and bridging deliveries would loop).

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/store.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::notification {

// event_sender_id of bridged envelopes.
inline constexpr char kStatusSender[] = "switchboard";

// "switchboard-event-<sequence>": stable, so a re-bridged event is a
// duplicate publish that changes nothing.
std::string StatusEventUuid(int64_t sequence);

// The routing key for a log event, or nullopt if it is not bridged.
// INVALID_ARGUMENT when the event's data does not parse.
absl::StatusOr<std::optional<std::string>> StatusRoutingKey(const core::EventRecord& event);

// Every routing key StatusRoutingKey can give, for asking "does anything want
// status changes at all?" without reading the log.
const std::vector<std::string>& AllStatusRoutingKeys();

// Whether a routing key has any taker (a subscription or webhook binds it).
using KeyFilter = std::function<bool(const std::string& routing_key)>;

// The envelope for a bridged event whose key `wanted` accepts (nullopt for
// any other event: nothing is converted then). data = {service, kind, sequence,
// resource, related, event: <the service event as proto3 JSON with .proto
// field names>}. An event whose JSON exceeds `max_event_bytes` is sent
// without "event" and with "truncated": true; fetch it with the service's
// Get or Watch RPC.
absl::StatusOr<std::optional<v1::BusEnvelope>> StatusEnvelope(
    const core::EventRecord& event, const KeyFilter& wanted = [](const std::string&) { return true; },
    size_t max_event_bytes = 64 * 1024);

}  // namespace switchboard::notification
