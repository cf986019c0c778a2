#pragma once
// Moves the webhook deliveries of an older data dir into the jobs this
// release runs, at Load:
//
//  * MigrateDeliveries: before deliveries were jobs, a pending delivery was
//    found again at start by reading every delivery record. Each record
//    still PENDING or RETRYING (of a webhook that still exists) gets its
//    job: kind webhook.delivery:<webhook>, keyed by the delivery's name,
//    run_at its next_attempt_time, with an empty payload (the attempt reads
//    the bus event then).
//  * MigrateDeliveryJobKinds: before each webhook had an owner lease
//    (webhook_owners.h), every delivery job had the one kind
//    webhook.delivery. Each unfinished one of a webhook that still exists
//    gets a job of its webhook's kind (same key, payload and run_at), and
//    the old ones are cancelled in the last transaction.
//  * EnsureOwnerJobs: every webhook has its webhook.owner job (enqueued
//    with the webhook since; de-duplicated by key, so it runs every start).
//
// The two scans go a page of delivery records per transaction; the last one
// also writes a marker, so that later starts skip them. A start interrupted
// half-way scans again: an enqueue whose delivery has a job already is
// de-duplicated.

#include <set>
#include <string>

#include "absl/status/status.h"
#include "server/core/store.h"

namespace switchboard::notification {

// The markers: kind and names of the resources written once done.
inline constexpr char kMigrationKind[] = "migration";
inline constexpr char kDeliveryJobsMigrated[] = "webhook.delivery jobs";
inline constexpr char kDeliveryJobKindsMigrated[] = "webhook.delivery:<webhook> jobs";

// `webhooks`: the names of the webhooks that exist. `moved` (optional)
// gets how many deliveries got a job.
absl::Status MigrateDeliveries(core::Store* store, const std::set<std::string>& webhooks, int page_size = 500,
                               int64_t* moved = nullptr);
absl::Status MigrateDeliveryJobKinds(core::Store* store, const std::set<std::string>& webhooks, int page_size = 500,
                                     int64_t* moved = nullptr);
absl::Status EnsureOwnerJobs(core::Store* store, const std::set<std::string>& webhooks);

}  // namespace switchboard::notification
