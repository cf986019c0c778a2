#pragma once
// Azure Managed Application lifecycle (seed 002, docs/wire-formats.md section 5), free
// of gRPC. Each application keeps its full notification history; its state
// follows the newest eventTime only, so notifications may arrive in any
// order and any number of times.

#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/reply.h"
#include "server/core/store.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::notification {

inline constexpr char kApplicationKind[] = "application";

// The state a valid eventType x provisioningState pair leads to, or
// STATE_UNSPECIFIED for the pairs Azure never sends (e.g. PATCH Deleting).
v1::Application::State StateForPair(v1::ManagedAppEventType type, v1::ProvisioningState state);

// "subscriptions/..." -> "/subscriptions/...". INVALID_ARGUMENT naming
// `application_id` when it is not a Microsoft.Solutions application id.
absl::StatusOr<std::string> NormalizeApplicationId(absl::string_view id);

// INVALID_ARGUMENT naming the field: the pair, application_id, event_time.
absl::Status ValidateNotification(const v1::ManagedAppNotification& n);

// "applications/" + the normalized application id.
std::string ApplicationName(absl::string_view normalized_id);

class ManagedAppEngine {
 public:
  explicit ManagedAppEngine(core::Store* store) : store_(store) {}

  using RecordDone = std::function<void(core::Reply<v1::RecordManagedAppNotificationResponse>)>;
  // Durable before `done` runs. A notification already in the history is a
  // duplicate and changes nothing; one older than the state is appended to
  // the history as stale. A repeat of request_id is a duplicate too, and
  // its answer is marked replayed.
  void Record(const v1::RecordManagedAppNotificationRequest& request, RecordDone done);

  absl::StatusOr<v1::Application> Get(absl::string_view name) const;
  absl::StatusOr<v1::ListApplicationsResponse> List(const v1::ListApplicationsRequest& request) const;

 private:
  core::Store* store_;
};

}  // namespace switchboard::notification
