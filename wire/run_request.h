#pragma once
// Resource run requests (docs/wire-formats.md section 1, seeds 000 and 001) <->
// SubmitRunRequest. Pure functions: no network, no gRPC, no exceptions. The
// gateway's queue adapter and `sbctl workspace request` read requests
// through this file.
//
// Accepted:
//  * keys in any case (`Modules`, `workspace`, `RequestingUserEmail`...);
//  * `templates` as another name for `modules`;
//  * the payload wrapped in a MassTransit envelope
//    {"messageId", "messageType": [...], "message": {...}} (messageId becomes
//    the request_id unless one is given);
//  * the JSON as it is, or base64 of it (Azure Storage Queue bodies);
//  * module names with or without "templates/" (kept as sent: the server
//    strips the prefix);
//  * users given only as {"email"}; roles Owner, Admin, User, Guest in any
//    case.
// Structure is checked here (types, required keys) with errors naming the
// field, e.g. "workspace.users[1].role: 'Boss' is not one of Owner, Admin,
// User, Guest". Value rules (lengths, acronym characters, addresses) are the
// server's, so that both edges agree with one implementation.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::wire {

// `request_id` (may be empty) wins over an envelope's messageId.
absl::StatusOr<v1::SubmitRunRequest> RunRequestFromJson(absl::string_view text, absl::string_view request_id = "");

// The docs/wire-formats.md section 1 JSON (camelCase keys, no envelope).
std::string RunRequestToJson(const v1::SubmitRunRequest& request);

}  // namespace switchboard::wire
