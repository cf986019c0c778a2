#pragma once
// Response events the gateway builds itself, for requests the server never
// accepted (unknown eventType, rejected data): response.acknowledge and
// response.failure, with docs/wire-formats.md section 4's subjects and fields.
//
// Gateway failure ids (level*100000 + subsystem*1000 + index; level 4 =
// error, subsystem 9 = gateway):
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

// data: { operationContext, eventType: <request eventType> };
// subject: "<request subject>/<new id>".
Event MakeAck(const Event& request);

// response.failure (or, for request.rollkey.storage,
// response.rollkey.storage.failure with account, keyName and error).
// subject: "gridwichFailure/<handler>/<logEventId>".
Event MakeFailure(const Event& request, int log_event_id, const std::string& message,
                  const std::string& handler_class);

// The ack (for request.* other than rollkey) followed by the failure.
std::vector<Event> RejectionEvents(const Event& request, const grpc::Status& status,
                                   const std::string& handler_class);
std::vector<Event> UnknownTypeEvents(const Event& request);

// A GUID derived from a name, stable across runs (the handler id).
std::string StableGuid(const std::string& name);

}  // namespace switchboard::gateway::eventgrid
