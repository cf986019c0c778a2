#pragma once
// Event Grid's limits on one publish to a topic: a body (the JSON array) of
// at most 1 MB, 1,048,576 bytes, which also bounds one event; and at most
// kTopicMaxEvents events per POST, the gateway's own cap (Event Grid
// documents only the size for custom topics). Every POST the gateway sends
// to the topic stays within both (gateway/eventgrid/outbound.h splits).

#include <algorithm>
#include <cstddef>

namespace switchboard::gateway::eventgrid {

inline constexpr size_t kTopicMaxBodyBytes = 1048576;
inline constexpr size_t kTopicMaxEvents = 100;
// The smallest body budget: a gateway failure event that stands in for an
// event too large to send (outbound.h) always fits in it.
inline constexpr size_t kTopicMinBodyBytes = 1024;

struct TopicLimits {
  // Most events per POST (eventgrid_batch_max_events).
  size_t max_events = kTopicMaxEvents;
  // Largest POST body, brackets included (eventgrid_batch_max_bytes).
  size_t max_bytes = 1000000;

  // The configured values within Event Grid's: 1..100 events,
  // 1 KB..1 MB of body.
  TopicLimits Clamped() const {
    TopicLimits l;
    l.max_events = std::clamp<size_t>(max_events, 1, kTopicMaxEvents);
    l.max_bytes = std::clamp<size_t>(max_bytes, kTopicMinBodyBytes, kTopicMaxBodyBytes);
    return l;
  }
};

}  // namespace switchboard::gateway::eventgrid
