#pragma once
// Everything the gateway sends to the Event Grid topic passes here, on
// every path (the publisher's log events and the endpoint's own refusals):
//
//  * TopicJson: one event as it may leave. A response holding a SAS URL
//    that grants more than reading (sp with anything but r, l, f, or a
//    signed URL with no sp) is replaced by a gateway response.failure
//    (409004): a write credential never reaches the topic's subscribers.
//    An event that alone exceeds the POST budget (Event Grid refuses it,
//    and every retry would fail again) is replaced by a response.failure
//    (409005) naming its type, id and size, with the operationContext when
//    that still fits. Both are logged and counted
//    (errors_total{kind="eventgrid_write_sas_withheld"|"eventgrid_event_too_large"}).
//  * TopicBatch: bodies within TopicLimits (clamped to Event Grid's 1 MB
//    and 100 events), events kept in the order they were added.
//  * SplitForTopic: a list of events as such bodies, in order; POSTing them
//    one after the other keeps every operation's events in order.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "gateway/eventgrid/event.h"
#include "gateway/eventgrid/topic_limits.h"

namespace switchboard::gateway {
class Metrics;
}

namespace switchboard::gateway::eventgrid {

// True if `text` holds a signed URL or SAS token (a sig= parameter) whose
// permissions (sp=) allow anything but reading (r, l, f), or are not given.
// `permissions` (may be null) receives the first such sp value ("" if none).
bool HoldsWriteSas(absl::string_view text, std::string* permissions = nullptr);
// The same for every string inside a JSON value (object keys not included).
bool JsonHoldsWriteSas(const nlohmann::json& value, std::string* permissions = nullptr);

// `event` serialized (event.h's Serialize) as it may be sent: with the
// replacements above applied. The result always fits one body of `limits`
// (its size + 2 <= limits.Clamped().max_bytes). `metrics` may be null.
std::string TopicJson(const Event& event, const TopicLimits& limits, Metrics* metrics);

// A POST body being built from TopicJson results.
class TopicBatch {
 public:
  explicit TopicBatch(TopicLimits limits) : limits_(limits.Clamped()) {}

  // True if `json` can join the body; an empty body takes any TopicJson.
  bool Fits(const std::string& json) const {
    return parts_.empty() || (parts_.size() < limits_.max_events && bytes_ + 1 + json.size() <= limits_.max_bytes);
  }
  // Adds `json` (call Take first when it does not fit).
  void Add(std::string json);
  // "[e1,e2,...]", and starts the next body.
  std::string Take();

  bool empty() const { return parts_.empty(); }
  size_t size() const { return parts_.size(); }
  const TopicLimits& limits() const { return limits_; }

 private:
  TopicLimits limits_;
  std::vector<std::string> parts_;
  size_t bytes_ = 2;  // the brackets
};

// `events`, in order, as the bodies of consecutive POSTs within `limits`.
std::vector<std::string> SplitForTopic(const std::vector<Event>& events, const TopicLimits& limits,
                                       Metrics* metrics);

}  // namespace switchboard::gateway::eventgrid
