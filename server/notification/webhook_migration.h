#pragma once
// Before deliveries were jobs, a pending webhook delivery was found again at
// start by reading every delivery record. MigrateDeliveries gives each
// record still PENDING or RETRYING (of a webhook that still exists) its
// job: kind webhook.delivery, keyed by the delivery's name, run_at its
// next_attempt_time, with an empty payload (the attempt reads the bus event
// then). One transaction per page of records; the last one also writes a
// marker, so that later starts skip the scan. A start interrupted half-way
// scans again: an enqueue whose delivery has a job already is
// de-duplicated.

#include <set>
#include <string>

#include "absl/status/status.h"
#include "server/core/store.h"

namespace switchboard::notification {

// The marker: kind and name of the resource written once the deliveries
// have their jobs.
inline constexpr char kMigrationKind[] = "migration";
inline constexpr char kDeliveryJobsMigrated[] = "webhook.delivery jobs";

// `webhooks`: the names of the webhooks that exist. `moved` (optional)
// gets how many deliveries got a job.
absl::Status MigrateDeliveries(core::Store* store, const std::set<std::string>& webhooks, int page_size = 500,
                               int64_t* moved = nullptr);

}  // namespace switchboard::notification
