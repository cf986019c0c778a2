#include "server/notification/webhook_migration.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status.h"
#include "server/notification/webhook_owners.h"
#include "server/notification/webhooks.h"

namespace switchboard::notification {
namespace {

// Calls `each` for every delivery record still PENDING or RETRYING of a
// webhook in `webhooks`, a page at a time: `each` adds to the page's
// mutation, committed after the page (the last one with `marker` and
// `last`'s writes).
template <class Each, class Last>
absl::Status ForEachPendingPage(core::Store* store, const std::set<std::string>& webhooks, int page_size,
                                const char* marker, Each each, Last last) {
  std::string after;
  for (;;) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store->ListResources(kDeliveryKind, after, page_size));
    core::Mutation m;
    for (auto& [name, value] : page.items) {
      v1::WebhookDelivery d;
      if (!d.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
      if (d.state() != v1::DELIVERY_PENDING && d.state() != v1::DELIVERY_RETRYING) continue;
      if (webhooks.count(d.webhook()) == 0) continue;
      RETURN_IF_ERROR(each(name, d, m));
    }
    const bool end = page.next_after.empty();
    if (end) {
      last(m);
      m.writes.push_back({kMigrationKind, marker, "1", false});
    }
    if (!m.jobs.empty() || end) RETURN_IF_ERROR(store->Commit(std::move(m)).status());
    if (end) return absl::OkStatus();
    after = page.next_after;
  }
}

}  // namespace

absl::Status MigrateDeliveries(core::Store* store, const std::set<std::string>& webhooks, int page_size,
                               int64_t* moved) {
  using google::protobuf::util::TimeUtil;
  int64_t count = 0;
  if (moved) *moved = 0;
  ASSIGN_OR_RETURN(auto done, store->GetResource(kMigrationKind, kDeliveryJobsMigrated));
  if (done.has_value()) return absl::OkStatus();
  RETURN_IF_ERROR(ForEachPendingPage(
      store, webhooks, page_size, kDeliveryJobsMigrated,
      [&count](const std::string& name, const v1::WebhookDelivery& d, core::Mutation& m) {
        absl::Time run_at = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(d.next_attempt_time()));
        m.jobs.push_back(core::JobWrite::Enqueue(DeliveryJobKind(d.webhook()), name, "", run_at));
        ++count;
        return absl::OkStatus();
      },
      // Their jobs have the kind of this release: nothing to move later.
      [](core::Mutation& m) { m.writes.push_back({kMigrationKind, kDeliveryJobKindsMigrated, "1", false}); }));
  if (count > 0) log::Info("webhooks: pending deliveries moved to jobs", {{"deliveries", count}});
  if (moved) *moved = count;
  return absl::OkStatus();
}

absl::Status MigrateDeliveryJobKinds(core::Store* store, const std::set<std::string>& webhooks, int page_size,
                                     int64_t* moved) {
  int64_t count = 0;
  if (moved) *moved = 0;
  ASSIGN_OR_RETURN(auto done, store->GetResource(kMigrationKind, kDeliveryJobKindsMigrated));
  if (done.has_value()) return absl::OkStatus();
  core::JobQueue& jobs = store->jobs();
  ASSIGN_OR_RETURN(int64_t old, jobs.CountUnfinished(kLegacyDeliveryJobKind));
  if (old > 0) {
    RETURN_IF_ERROR(ForEachPendingPage(
        store, webhooks, page_size, kDeliveryJobKindsMigrated,
        [&](const std::string& name, const v1::WebhookDelivery& d, core::Mutation& m) -> absl::Status {
          ASSIGN_OR_RETURN(std::optional<core::Job> job, jobs.FindUnfinished(kLegacyDeliveryJobKind, name));
          if (!job.has_value()) return absl::OkStatus();
          // READY at its run_at; one that was RUNNING was held by a process
          // that is gone (every replica runs this release).
          m.jobs.push_back(core::JobWrite::Enqueue(DeliveryJobKind(d.webhook()), name, job->payload,
                                                   absl::FromUnixMicros(job->run_at_us)));
          ++count;
          return absl::OkStatus();
        },
        [](core::Mutation& m) {
          m.jobs.push_back(core::JobWrite::CancelAll(kLegacyDeliveryJobKind,
                                                     "moved to its webhook's kind, webhook.delivery:<webhook>"));
        }));
  } else {
    core::Mutation m;
    m.writes.push_back({kMigrationKind, kDeliveryJobKindsMigrated, "1", false});
    RETURN_IF_ERROR(store->Commit(std::move(m)).status());
  }
  if (count > 0) log::Info("webhooks: delivery jobs moved to their webhooks' kinds", {{"deliveries", count}});
  if (moved) *moved = count;
  return absl::OkStatus();
}

absl::Status EnsureOwnerJobs(core::Store* store, const std::set<std::string>& webhooks) {
  core::Mutation m;
  for (const std::string& name : webhooks) {
    m.jobs.push_back(core::JobWrite::Enqueue(kOwnerJobKind, name, ""));
    if (m.jobs.size() >= 500) {
      RETURN_IF_ERROR(store->Commit(std::move(m)).status());
      m = core::Mutation();
    }
  }
  if (!m.jobs.empty()) RETURN_IF_ERROR(store->Commit(std::move(m)).status());
  return absl::OkStatus();
}

}  // namespace switchboard::notification
