#pragma once
// The event bus of the Gorg convention (seed 003), free of gRPC: publishes
// envelopes into the durable log, onto every matching route (subscription
// queues, webhooks) in the same transaction, and serves them back.

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "server/notification/bus_route.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::notification {

// INVALID_ARGUMENT naming the field, per docs/wire-formats.md section 3.
absl::Status ValidateEnvelope(const v1::BusEnvelope& envelope);

class BusEngine {
 public:
  explicit BusEngine(core::Store* store) : store_(store) {}

  // Routes are consulted in the order added; add them before serving.
  void AddRoute(BusRoute* route) { routes_.push_back(route); }
  // True if a subscription or webhook would take an event with this key.
  bool AnyRouteWants(const std::string& routing_key) const {
    for (const BusRoute* r : routes_) {
      if (r->Wants(routing_key)) return true;
    }
    return false;
  }

  // Durable and idempotent on the envelope's event_uuid: a repeat returns
  // the first response, marked replayed.
  // `jobs` go into the publish's transaction (Mutation::jobs): a publisher
  // that holds a job's lease fences its publish with it and records its
  // progress there (the status bridge's cursor). A refused one ("lease
  // lost") refuses the publish; a repeat applies none.
  void Publish(const Principal& caller, const v1::PublishRequest& request,
               std::function<void(core::Reply<v1::PublishResponse>)> done, std::vector<core::JobWrite> jobs = {});

  // `name` is "busEvents/{event_uuid}" or the bare uuid. A published event
  // never changes, so the most recently read ones are kept in memory.
  absl::StatusOr<v1::BusEvent> GetBusEvent(absl::string_view name) const;
  absl::StatusOr<v1::ListBusEventsResponse> ListBusEvents(const v1::ListBusEventsRequest& request) const;

 private:
  static constexpr size_t kReadCacheCapacity = 4096;

  core::Store* store_;
  std::vector<BusRoute*> routes_;
  mutable std::mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const v1::BusEvent>> cache_;
  mutable std::deque<std::string> cache_order_;  // oldest first
};

}  // namespace switchboard::notification
