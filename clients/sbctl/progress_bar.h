#pragma once
// The progress bar of `sbctl encode --watch`, as pure functions:
//   [###############---------------]  50%  elapsed 00:04  ETA 00:04  h264: encoding 3.0 s of 6.0 s
// On a terminal each update redraws the line in place (Redraw); elsewhere
// each update is a line of its own.

#include <string>

namespace switchboard::sbctl {

// "MM:SS" (minutes keep counting past 59); negative counts as 0.
std::string Clock(double seconds);

// One bar line. `eta` < 0 shows "--:--"; `status` is cut to 40 characters.
std::string ProgressBar(int percent, double elapsed, double eta, const std::string& status);

// What redraws `line` over the current terminal line: a carriage return,
// the line, then "erase to the end of the line" (ESC [ K), so that a
// shorter line leaves nothing of a longer one behind.
std::string Redraw(const std::string& line);

}  // namespace switchboard::sbctl
