#pragma once
// sbctl run ...: and the printing and following of resourcing runs that the
// workspace, run and pipeline command groups share (defined in cmd_run.cc).

#include <optional>
#include <string>

#include "absl/status/statusor.h"

#include "clients/sbctl/command.h"
#include "clients/sbctl/input.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::sbctl {

// "Pending Approval" etc.
const char* StatusWord(v1::ResourceStatus status);
// One line for a resourcing event; empty for events not worth a line.
std::string ResourcingEventLine(const v1::ResourcingEvent& event);
void PrintRun(Invocation& inv, const v1::Run& run);

// --until=STATE (UntilFlag adds it): empty when not given; a usage error
// naming the run states when it is not one.
absl::StatusOr<std::optional<v1::Run::State>> UntilState(const Invocation& inv);
void UntilFlag(Cli& cli);

// Follows a run's events until it ends (exit 0 if SUCCEEDED, 1 if FAILED), or
// until it reaches `until` (exit 0). Reconnects after UNAVAILABLE.
int FollowRun(Invocation& inv, client::Connection* conn, const std::string& run,
              std::optional<v1::Run::State> until = std::nullopt);


}  // namespace switchboard::sbctl
