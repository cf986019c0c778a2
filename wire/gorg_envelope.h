#pragma once
// The Gorg SOA bus envelope (docs/wire-formats.md section 3, seed 003) <-> BusEnvelope.
//
//   { "event_uuid", "event_name", "event_creation_time", "event_sender_id",
//     "data": {...}, "errors_count": N, "errors": [ {...}, ... ] }
//
// Pure functions: no network, no gRPC, no exceptions. The gateway's RabbitMQ
// adapter and `sbctl bus publish` both read envelopes through this file, so
// they accept and reject exactly the same messages.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::wire {

// Decodes and validates an envelope. Every failure is INVALID_ARGUMENT with a
// message that starts with the offending field, e.g.
//   "errors[0].error_type: 'fatal' is not one of debug, info, warning, softerror, harderror".
// Rules:
//  * event_uuid, event_name, event_creation_time, event_sender_id and data
//    are required; errors_count and errors are optional (null = absent).
//    Strings must be non-empty, except error_message and error_code.
//  * event_name is the routing key: non-empty, dot-separated words, none
//    empty ("a..b", ".a" and "a." are rejected). Like the server's check, it
//    also rejects keys over 255 bytes (AMQP cannot carry them) and the
//    wildcard words "*" and "#", which only mean something in bindings.
//  * Times are ISO 8601 with an offset; they are stored as UTC instants.
//  * data and error_debug must be JSON objects (nested at most
//    kMaxStructDepth levels).
//  * errors_count is an integer 0..2^31-1. It is not checked against the
//    length of errors: Gorg senders keep the two in step, and a receiver
//    has no better value to put in its place.
//  * Each errors[] entry needs error_type (debug, info, warning, softerror,
//    harderror), error_uuid, error_sender, error_message, timestamp and
//    error_debug; error_code (a string, or an integer taken as its decimal
//    text) is optional.
//  * Unknown keys are rejected at the top level (docs/wire-formats.md) and inside errors[]
//    entries too, since BusEnvelope has nowhere to keep them and silently
//    dropping part of a message would lose data.
absl::StatusOr<v1::BusEnvelope> GorgEnvelopeFromJson(absl::string_view json);

// Encodes an envelope as compact JSON with the keys in the seed's order.
// event_creation_time is written with "+00:00" and errors[].timestamp with
// "Z", as Gorg senders write them. errors_count and errors are written only
// when errors_count is non-zero or errors is non-empty, so an envelope
// decoded without them encodes without them. error_code is written only when
// non-empty.
std::string GorgEnvelopeToJson(const v1::BusEnvelope& envelope);

// The routing-key rule on its own, for bindings and CLI arguments.
// `field` names the value in the error.
absl::Status ValidateRoutingKey(absl::string_view key, absl::string_view field);

}  // namespace switchboard::wire
