#pragma once
// What sbctl says when a watch ends with a resume point. The server's
// message tells API clients to "reconnect with after_sequence=N"; sbctl
// drops that advice and gives its own, naming the flag that does it:
//   "resume after sequence 32 with 'sbctl app watch --after=32'".

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "clients/lib/client.h"

namespace switchboard::sbctl {

// `message` without its "; "-separated clauses (after the first) that
// mention after_sequence: "watch fell more than 10 events behind the log;
// reconnect with after_sequence=5 to resume without a gap" becomes "watch
// fell more than 10 events behind the log". Anything else is unchanged.
std::string WithoutResumeAdvice(absl::string_view message);

// "resume after sequence N with '<rerun> --after=N'", where `rerun` is the
// command to run again ("sbctl watch notification").
std::string ResumeHint(absl::string_view rerun, int64_t after);

// Where a watch that ended with `status` (not OK) goes on: the server's
// resume point (lagging, shutdown), never behind `printed` (the last
// sequence printed, or --after); or `printed` itself when the stream broke
// (the server gone, the connection reset) after events were printed.
// Nothing when neither: the error alone is said.
std::optional<int64_t> ResumePoint(const client::Connection& conn, const grpc::ClientContext& ctx,
                                   const grpc::Status& status, int64_t printed);

}  // namespace switchboard::sbctl
