#include "server/notification/webhook_migration.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status.h"
#include "server/notification/webhooks.h"

namespace switchboard::notification {

absl::Status MigrateDeliveries(core::Store* store, const std::set<std::string>& webhooks, int page_size,
                               int64_t* moved) {
  using google::protobuf::util::TimeUtil;
  int64_t count = 0;
  if (moved) *moved = 0;
  ASSIGN_OR_RETURN(auto done, store->GetResource(kMigrationKind, kDeliveryJobsMigrated));
  if (done.has_value()) return absl::OkStatus();
  std::string after;
  for (;;) {
    ASSIGN_OR_RETURN(core::ResourcePage page, store->ListResources(kDeliveryKind, after, page_size));
    core::Mutation m;
    for (auto& [name, value] : page.items) {
      v1::WebhookDelivery d;
      if (!d.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
      if (d.state() != v1::DELIVERY_PENDING && d.state() != v1::DELIVERY_RETRYING) continue;
      if (webhooks.count(d.webhook()) == 0) continue;
      absl::Time run_at = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(d.next_attempt_time()));
      m.jobs.push_back(core::JobWrite::Enqueue(kDeliveryJobKind, name, "", run_at));
    }
    count += static_cast<int64_t>(m.jobs.size());
    const bool last = page.next_after.empty();
    if (last) m.writes.push_back({kMigrationKind, kDeliveryJobsMigrated, "1", false});
    if (!m.jobs.empty() || last) RETURN_IF_ERROR(store->Commit(std::move(m)).status());
    if (last) break;
    after = page.next_after;
  }
  if (count > 0) log::Info("webhooks: pending deliveries moved to jobs", {{"deliveries", count}});
  if (moved) *moved = count;
  return absl::OkStatus();
}

}  // namespace switchboard::notification
