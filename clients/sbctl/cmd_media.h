#pragma once
// sbctl media ...: and the pieces the media, encode and blob command groups
// share (defined in cmd_media.cc): request ids, the --context flag, printing
// operations, and following one operation's events to its end.

#include <functional>
#include <optional>
#include <string>

#include <google/protobuf/struct.pb.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/sbctl/command.h"
#include "switchboard/v1/media.grpc.pb.h"

namespace switchboard::sbctl {

// --request_id if given, else "sbctl-<uuid>" (a new request each run).
std::string MediaRequestId(const Invocation& inv);

// --context as a JSON object (empty when not given); INVALID_ARGUMENT
// naming --context otherwise.
absl::StatusOr<google::protobuf::Struct> MediaContext(const Invocation& inv);

// Declares --request_id and --context on a media command.
void AddMediaRequestFlags(Cli& cli);

// "operations/<id>" for a bare id.
std::string OperationName(const std::string& arg);

// A readable summary (or the JSON with --json). `replayed` is given for the
// answer of a mutating call: when true a first line says the operation is
// an earlier request's, and --json carries "replayed" either way.
void PrintOperation(Invocation& inv, const v1::Operation& op, std::optional<bool> replayed = std::nullopt);

// Streams the events of `name` from its first one, calling `on_event` for
// each, until a final event (wire::IsFinalEvent) or `timeout`. A watch
// that falls behind (ABORTED with a resume point) is resumed at once.
// Returns DEADLINE_EXCEEDED on timeout, the stream's error otherwise.
absl::Status FollowOperation(client::Connection* conn, const std::string& name, absl::Duration timeout,
                             const std::function<void(const v1::MediaEvent&)>& on_event);

// After an accepted request: with --wait, follows it to its end and prints
// the final operation; else prints `op` as answered. Exit 0, or 1 if the
// operation FAILED or was CANCELED.
// `replayed`: the server answered from an earlier request (PrintOperation).
int FinishMediaOperation(Invocation& inv, client::Connection* conn, const v1::Operation& op, bool wait,
                         bool replayed = false);

// Fills request_id and --context into `req`, connects and sends it. On
// success sets `*conn` (the invocation's) and `*op` and returns nullopt;
// otherwise the exit code to return (the error is printed).
// `*replayed` (if given) tells whether the answer was replayed.
std::optional<int> SubmitMedia(Invocation& inv, v1::EncodeRequest req, client::Connection** conn, v1::Operation* op,
                               bool* replayed = nullptr);

// Seconds of the --wait_timeout flag.
absl::Duration WaitTimeout(const Invocation& inv);

}  // namespace switchboard::sbctl
