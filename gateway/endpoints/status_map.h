#pragma once
// The one place where the gateway turns a gRPC status from switchboardd
// into an HTTP answer for an inbound webhook or event.
//
//   OK (including a repeat of an accepted request_id) -> 200
//   ALREADY_EXISTS (the request_id was used for a DIFFERENT message)
//                                                   -> 409 (retrying cannot help)
//   INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> 400 (the sender
//   must not retry: the message will never be accepted)
//   NOT_FOUND                                       -> 404
//   everything else (UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
//   RESOURCE_EXHAUSTED, ABORTED, UNKNOWN, and UNAUTHENTICATED /
//   PERMISSION_DENIED, which mean the gateway's own token is wrong)
//                                                   -> 503, so that Azure /
//   Event Grid retry later; nothing was durably accepted.

#include <grpcpp/support/status.h>

namespace switchboard::gateway {

int HttpStatusFor(const grpc::Status& status);

// True when the server may accept the same message later (answered 503).
bool IsRetryable(const grpc::Status& status);

}  // namespace switchboard::gateway
