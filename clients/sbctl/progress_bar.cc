#include "clients/sbctl/progress_bar.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/sbctl/output.h"

namespace switchboard::sbctl {

std::string Clock(double seconds) {
  if (seconds < 0) seconds = 0;
  auto s = static_cast<long long>(seconds + 0.5);
  return absl::StrFormat("%02lld:%02lld", s / 60, s % 60);
}

std::string ProgressBar(int percent, double elapsed, double eta, const std::string& status) {
  constexpr int kWidth = 30;
  percent = std::clamp(percent, 0, 100);
  int filled = percent * kWidth / 100;
  std::string bar = absl::StrCat("[", std::string(filled, '#'), std::string(kWidth - filled, '-'), "]");
  return absl::StrFormat("%s %3d%%  elapsed %s  ETA %s  %s", bar, percent, Clock(elapsed),
                         eta < 0 ? std::string("--:--") : Clock(eta), Shorten(status, 40));
}

std::string Redraw(const std::string& line) { return absl::StrCat("\r", line, "\x1b[K"); }

}  // namespace switchboard::sbctl
