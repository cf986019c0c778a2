#pragma once
// Keeps the status bridge running somewhere (docs/scale-out.md): one bridge
// runs at a time, in the replica that holds its cursor job's lease. This
// replica's bridge is started at once; while another replica holds the
// lease (Start answers FAILED_PRECONDITION) this one stands by and tries
// again every `retry`, and so takes over when that replica stops (it hands
// the job back) or dies (its lease runs out). A bridge that lost its lease
// is replaced the same way. With one process the first Start succeeds.

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/core/executor.h"
#include "server/core/ticker.h"
#include "server/notification/status_bridge.h"

namespace switchboard::notification {

class StatusBridgeKeeper {
 public:
  using Factory = std::function<std::unique_ptr<StatusBridge>()>;
  StatusBridgeKeeper(Factory make, core::Pool* pool, absl::Duration retry);
  ~StatusBridgeKeeper();

  // Starts a bridge now. Another holder's lease is FAILED_PRECONDITION:
  // returned when `standby` is false (one process: a real error), kept as
  // standby when true. Any other error is returned. Starts the retries.
  absl::Status Start(bool standby);
  // Stops the retries and this replica's bridge (which hands the job back).
  void Stop();

  // True while this replica's bridge runs.
  bool running() const;

 private:
  // One attempt: replaces a bridge that lost its lease, starts one if none.
  absl::Status Attempt();

  Factory make_;
  const absl::Duration retry_;
  // Runs the retries and the bridge's steps.
  core::Pool* pool_;
  core::Ticker ticker_;
  mutable std::mutex mu_;
  std::unique_ptr<StatusBridge> bridge_;
  // Bridges that lost their lease, until their chain has ended (an attempt
  // runs on the bridge's pool, so it must not wait for that).
  std::vector<std::unique_ptr<StatusBridge>> retired_;
};

}  // namespace switchboard::notification
