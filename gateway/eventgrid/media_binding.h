#pragma once
// Where the Event Grid codec (gateway/codecs/eventgrid) plugs into the
// gateway: one handler for every request.* type and the storage events
// Microsoft.Storage.BlobCreated / BlobDeleted (inbound: the event decoded by
// the codec, then one async MediaService call with the event id as
// request_id), and the MediaEvent -> response events encoder the outbound
// publisher uses. Requests the codec or the server refuse get the codec's
// acknowledge + response.failure (logEventId 230001 invalid request,
// 230002 unknown request type).

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "clients/lib/client.h"
#include "gateway/eventgrid/event.h"
#include "gateway/eventgrid/handler.h"
#include "switchboard/v1/media.pb.h"

namespace switchboard::gateway::eventgrid {

// Recent request events by id, so response events can echo the request's
// subject and fields (WIRE.md "the same fields"). Bounded; after a gateway
// restart, responses of older requests are built without it.
class RequestCache {
 public:
  explicit RequestCache(size_t capacity = 20000) : capacity_(capacity) {}
  void Put(const Event& e);
  // By the request's eventType and id (Event Grid ids are unique per
  // request, but one id may be reused with another eventType).
  std::optional<Event> Get(const std::string& event_type, const std::string& id) const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Event> by_id_;
  std::deque<std::string> order_;
};

struct MediaBinding {
  std::shared_ptr<RequestCache> cache;
  // Response events for one media log event (ack, success, failure,
  // progress...), in order. Empty when the event has no response.
  std::function<std::vector<Event>(const v1::MediaEvent&)> encode;
};

void BindMedia(const client::Connection* conn, HandlerRegistry* handlers, MediaBinding* binding);

}  // namespace switchboard::gateway::eventgrid
