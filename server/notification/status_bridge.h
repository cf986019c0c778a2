#pragma once
// Puts every resourcing, media and managed-app status change on the bus
// (routing keys in status_routes.h), so any subscription or webhook can
// follow the whole control plane.
//
// A thread follows the global log from a durable cursor (resource
// "status_bridge/cursor"). Each batch of events is published in log order,
// with event_uuid "switchboard-event-<sequence>"; publishing is idempotent
// on that uuid, so a crash between publishing and saving the cursor
// re-publishes nothing new: the bus sees each status change exactly once.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "server/core/event_hub.h"
#include "server/core/store.h"
#include "server/notification/bus_engine.h"

namespace switchboard::notification {

class StatusBridge {
 public:
  struct Options {
    // Events read and published per batch.
    int batch_size = 256;
  };

  StatusBridge(core::Store* store, core::EventHub* hub, BusEngine* bus, Options options);
  ~StatusBridge();

  // Loads the cursor and starts the thread.
  absl::Status Start();
  // Finishes the batch in flight, saves the cursor and joins the thread.
  void Stop();

  // Log sequence up to which every event has been bridged.
  int64_t cursor() const { return cursor_.load(); }

 private:
  class Wakeup;
  void Run();
  // Publishes the bridged events of the batch, in order; false to stop.
  bool PublishBatch(const core::EventBatch& batch);
  bool AnyStatusKeyWanted() const;
  absl::Status SaveCursor(int64_t sequence);

  core::Store* store_;
  core::EventHub* hub_;
  BusEngine* bus_;
  Options options_;
  std::atomic<int64_t> cursor_{0};
  std::atomic<bool> stop_{false};
  std::shared_ptr<Wakeup> wakeup_;
  std::thread thread_;
};

}  // namespace switchboard::notification
