#pragma once
// Response events the gateway answers itself, for requests the server never
// accepted (an eventType no handler serves, a request the server refused):
// response.acknowledge and response.failure, built by wire's one builder
// (wire::Acknowledge, wire::RequestFailure in wire/eventgrid.h), with
// docs/wire-formats.md section 4's subjects and fields.
//
// Gateway failure ids (level*100000 + subsystem*1000 + index; level 4 =
// error, subsystem 9 = gateway; the media ids are wire/gridwich.h's):
//   409001  unknown eventType
//   409002  the server rejected the request (INVALID_ARGUMENT and the like)
//   409003  the event id was already used for a different request
//   409004  a response held a write-capable SAS URL; withheld from the topic
//   409005  a response was larger than one Event Grid publish (outbound.h)

#include <grpcpp/support/status.h>

#include <string>
#include <vector>

#include "gateway/eventgrid/event.h"

namespace switchboard::gateway::eventgrid {

inline constexpr int kFailureUnknownEventType = 409001;
inline constexpr int kFailureRejected = 409002;
inline constexpr int kFailureConflict = 409003;
inline constexpr int kFailureWriteSasWithheld = 409004;
inline constexpr int kFailureEventTooLarge = 409005;

// The handler the gateway names in the failures it reports itself.
inline constexpr char kGatewayHandler[] = "EventGridGateway";

// The ack (for request.* other than rollkey) followed by the failure, each
// echoing the request's data.operationContext as it was sent.
std::vector<Event> RejectionEvents(const Event& request, const grpc::Status& status,
                                   const std::string& handler_class);
std::vector<Event> UnknownTypeEvents(const Event& request);

}  // namespace switchboard::gateway::eventgrid
