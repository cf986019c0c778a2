#pragma once
// How the daemons (switchboardd, switchboard-gateway) stop: SIGTERM and
// SIGINT are blocked in every thread and waited for by main, which then
// drains; SIGPIPE is ignored so a closed peer is an error, not a crash.

#include <csignal>

namespace switchboard {

// Call first in main, before any thread starts (threads inherit the mask).
sigset_t BlockStopSignals();

// Waits for SIGTERM or SIGINT and logs which one arrived.
void WaitForStopSignal(const sigset_t& stop_signals);

}  // namespace switchboard
