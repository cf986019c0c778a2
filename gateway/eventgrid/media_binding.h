#pragma once
// Where the Event Grid codec of the media issue (gateway/codecs/eventgrid)
// plugs into the gateway: handlers for the request.* types and the storage
// events (inbound), and the MediaEvent -> response events encoder
// (outbound). Until that codec is merged, BindMedia registers nothing: every
// request eventType is answered with a gateway response.failure, and the
// outbound publisher is not started (starting it without an encoder would
// move its cursor past events it could not publish).

#include <functional>
#include <vector>

#include "clients/lib/client.h"
#include "gateway/eventgrid/event.h"
#include "gateway/eventgrid/handler.h"
#include "switchboard/v1/media.pb.h"

namespace switchboard::gateway::eventgrid {

struct MediaBinding {
  // Response events for one media log event (ack, success, failure,
  // progress...), in order. Empty when the event has no response.
  std::function<std::vector<Event>(const v1::MediaEvent&)> encode;
};

void BindMedia(const client::Connection* conn, HandlerRegistry* handlers, MediaBinding* binding);

}  // namespace switchboard::gateway::eventgrid
