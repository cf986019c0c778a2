#include "server/notification/status_bridge_keeper.h"

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace switchboard::notification {

StatusBridgeKeeper::StatusBridgeKeeper(Factory make, core::Pool* pool, absl::Duration retry)
    : make_(std::move(make)), retry_(retry), pool_(pool), ticker_(pool, retry, [this] {
        absl::Status s = Attempt();
        if (!s.ok() && !absl::IsFailedPrecondition(s)) {
          log::Warn("status bridge did not start; trying again", {{"error", std::string(s.message())}});
        }
      }) {}

StatusBridgeKeeper::~StatusBridgeKeeper() { Stop(); }

absl::Status StatusBridgeKeeper::Attempt() {
  std::lock_guard<std::mutex> lock(mu_);
  retired_.erase(std::remove_if(retired_.begin(), retired_.end(), [](const auto& b) { return b->ended(); }),
                 retired_.end());
  if (bridge_ && !bridge_->lease_lost()) return absl::OkStatus();
  if (bridge_) {
    log::Warn("status bridge lost its lease to another replica; standing by");
    // It stops by itself, writing nothing; freed once it has.
    retired_.push_back(std::move(bridge_));
  }
  std::unique_ptr<StatusBridge> b = make_();
  absl::Status s = b->Start(pool_);
  if (s.ok()) bridge_ = std::move(b);
  return s;
}

absl::Status StatusBridgeKeeper::Start(bool standby) {
  absl::Status s = Attempt();
  if (!s.ok() && !(standby && absl::IsFailedPrecondition(s))) return s;
  if (!s.ok()) log::Info("status bridge standing by: another replica runs it", {{"why", std::string(s.message())}});
  ticker_.Start(retry_);
  return absl::OkStatus();
}

void StatusBridgeKeeper::Stop() {
  ticker_.Stop();
  std::lock_guard<std::mutex> lock(mu_);
  if (bridge_) bridge_->Stop();
  bridge_.reset();
  retired_.clear();  // each waits for its chain's end
}

bool StatusBridgeKeeper::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bridge_ != nullptr && !bridge_->lease_lost();
}

}  // namespace switchboard::notification
