#pragma once
// Where a published bus event goes besides the log: durable subscription
// queues and webhook subscriptions. Each route adds its durable writes to the
// Publish transaction, so an event is on every matching queue the moment
// Publish is durable, and a crash cannot lose it between the two.

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/store.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::notification {

// Runs once the publish has committed (`committed` is its result, whose
// `jobs` answer the mutation's job writes in order) or failed (null).
using AfterCommit = std::vector<std::function<void(const core::CommitResult* committed)>>;

class BusRoute {
 public:
  virtual ~BusRoute() = default;
  // Called inside the Publish transaction, in log order. Returns how many
  // destinations took the event. Routes kept in memory are reloaded
  // through `txn` when txn.RoutesVersion() moved (another replica, or an
  // earlier mutation, created or deleted one): see store.h.
  // An error (the routes could not be read) fails the Publish.
  virtual absl::StatusOr<int> Route(const v1::BusEvent& event, core::TxnReader& txn, core::Mutation& m,
                                    AfterCommit* after_commit) = 0;
  // True if an event with this routing key would reach a destination now.
  virtual bool Wants(const std::string& routing_key) const = 0;
};

}  // namespace switchboard::notification
