#pragma once
// Where the Event Grid codec (wire/eventgrid) plugs into the
// gateway: one handler for every request.* type and the storage events
// Microsoft.Storage.BlobCreated / BlobDeleted (inbound: the event decoded by
// the codec, then one async MediaService call with the event id as
// request_id, and the request's origin REQUEST_ORIGIN_EVENT_GRID), and the
// MediaEvent -> response events encoder the outbound publisher uses.
// Requests the codec or the server refuse get the codec's acknowledge +
// response.failure (logEventId 230001 invalid request, 230002 unknown
// request type).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clients/lib/client.h"
#include "gateway/eventgrid/event.h"
#include "gateway/eventgrid/handler.h"
#include "switchboard/v1/media.pb.h"

namespace switchboard::gateway::eventgrid {

// The gateway keeps nothing per request: what response events repeat from
// their request comes from the operation's RequestEcho, in the log.
struct MediaBinding {
  // Response events for one media log event (ack, success, failure,
  // progress...), in order. Empty when the event has no response, or is not
  // for the topic (topic_rule.h: a gRPC client's own operation).
  std::function<std::vector<Event>(const v1::MediaEvent&)> encode;
};

void BindMedia(const client::Connection* conn, HandlerRegistry* handlers, MediaBinding* binding);

}  // namespace switchboard::gateway::eventgrid
