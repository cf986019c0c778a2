#include "gateway/eventgrid/outage_log.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace switchboard::gateway::eventgrid {

namespace {
double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

OutageLog::OutageLog(std::string what, std::chrono::milliseconds interval)
    : what_(std::move(what)), interval_(interval) {}

void OutageLog::Failed(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (failed_++ == 0) {
    started_ = last_logged_ = now;
    log::Warn(absl::StrCat(what_, " unreachable; retrying"), {{"error", error}});
    return;
  }
  if (now - last_logged_ >= interval_) {
    last_logged_ = now;
    log::Warn(absl::StrCat(what_, " still unreachable; retrying"),
              {{"error", error}, {"failed_attempts", failed_}, {"seconds", Seconds(now - started_)}});
  }
}

void OutageLog::Succeeded() {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_ == 0) return;
  log::Info(absl::StrCat(what_, " reachable again"),
            {{"failed_attempts", failed_}, {"seconds", Seconds(std::chrono::steady_clock::now() - started_)}});
  failed_ = 0;
}

}  // namespace switchboard::gateway::eventgrid
