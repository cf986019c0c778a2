#include "server/rpc/method_rules.h"

#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "switchboard/v1/cursors.pb.h"
#include "switchboard/v1/media.pb.h"
#include "switchboard/v1/notification.pb.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::rpc {
namespace {

constexpr Role R = Role::kReader;
constexpr Role O = Role::kOperator;
constexpr Role A = Role::kAdmin;

}  // namespace

// Reads need reader, changes operator. Admin: what approves or merges
// (pull requests), rolls a secret (storage keys), or throws away messages
// nobody has read (deleting a bus subscription drops its queue; purging dead
// letters drops them). SubmitBatch needs admin when it holds a
// roll_storage_key request (media_service.cc raises it).
const std::vector<MethodRule>& MethodRules() {
  static const std::vector<MethodRule> rules = {
      {"ResourcingService.SubmitRun", O},
      {"ResourcingService.GetRun", R},
      {"ResourcingService.ListRuns", R},
      {"ResourcingService.GetWorkspace", R},
      {"ResourcingService.ListWorkspaces", R},
      {"ResourcingService.GetPullRequest", R},
      {"ResourcingService.ListPullRequests", R},
      {"ResourcingService.ApprovePullRequest", A},
      {"ResourcingService.AbandonPullRequest", A},
      {"ResourcingService.ReportPipelineOutputs", O},
      {"ResourcingService.WatchWorkspaces", R},
      {"ResourcingService.WatchRun", R},
      {"ResourcingService.WatchEvents", R},
      {"ResourcingService.WatchMany", R},

      {"MediaService.SetBlobMetadata", O},
      {"MediaService.AnalyzeBlob", O},
      {"MediaService.CopyBlob", O},
      {"MediaService.DeleteBlob", O},
      {"MediaService.CreateSasUrl", O},
      {"MediaService.ChangeBlobTier", O},
      {"MediaService.CreateContainer", O},
      {"MediaService.DeleteContainer", O},
      {"MediaService.ChangeContainerAccess", O},
      {"MediaService.RollStorageKey", A},
      {"MediaService.Encode", O},
      {"MediaService.CancelEncode", O},
      {"MediaService.SubmitBatch", O},
      {"MediaService.ReportStorageEvent", O},
      {"MediaService.GetOperation", R},
      {"MediaService.ListOperations", R},
      {"MediaService.ListBlobs", R},
      {"MediaService.WatchOperation", R},
      {"MediaService.WatchStorageEvents", R},
      {"MediaService.WatchEvents", R},
      {"MediaService.WatchEventBatches", R},
      {"MediaService.WatchMany", R},

      {"NotificationService.RecordManagedAppNotification", O},
      {"NotificationService.GetApplication", R},
      {"NotificationService.ListApplications", R},
      {"NotificationService.WatchApplications", R},
      {"NotificationService.Publish", O, /*request_id_from_payload=*/true},
      {"NotificationService.GetBusEvent", R},
      {"NotificationService.ListBusEvents", R},
      {"NotificationService.CreateSubscription", O},
      {"NotificationService.GetSubscription", R},
      {"NotificationService.ListSubscriptions", R},
      {"NotificationService.DeleteSubscription", A},
      {"NotificationService.Subscribe", O},
      {"NotificationService.Ack", O},
      {"NotificationService.Nack", O},
      {"NotificationService.ListDeadLetters", R},
      {"NotificationService.GetDeadLetter", R},
      {"NotificationService.ReplayDeadLetter", O},
      {"NotificationService.PurgeDeadLetters", A},
      {"NotificationService.CreateWebhookSubscription", O},
      {"NotificationService.GetWebhookSubscription", R},
      {"NotificationService.ListWebhookSubscriptions", R},
      {"NotificationService.DeleteWebhookSubscription", O},
      {"NotificationService.ListDeliveries", R},
      {"NotificationService.WatchDeliveries", R},
      {"NotificationService.WatchEvents", R},
      {"NotificationService.WatchMany", R},

      {"CursorService.GetCursor", R},
      {"CursorService.CommitCursor", O},
      {"CursorService.AcquireCursorLease", O},
      {"CursorService.ReleaseCursorLease", O},
  };
  return rules;
}

std::string FullMethodName(const MethodRule& rule) { return absl::StrCat("switchboard.v1.", rule.method); }

namespace {
void LoadDescriptors() {
  // Touch each file so that its descriptors are in the generated pool.
  (void)v1::SubmitRunRequest::descriptor();
  (void)v1::EncodeRequest::descriptor();
  (void)v1::PublishRequest::descriptor();
  (void)v1::CommitCursorRequest::descriptor();
}
}  // namespace

const google::protobuf::MethodDescriptor* FindMethod(const std::string& grpc_path) {
  LoadDescriptors();
  std::string name = grpc_path;
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  const size_t slash = name.find('/');
  if (slash == std::string::npos) return nullptr;
  name[slash] = '.';
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(name);
}

const MethodRule* RuleForRequest(const google::protobuf::Descriptor* request_type) {
  static const auto* by_type = [] {
    LoadDescriptors();
    auto* map = new absl::flat_hash_map<const google::protobuf::Descriptor*, const MethodRule*>();
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const MethodRule& rule : MethodRules()) {
      const auto* method = pool->FindMethodByName(FullMethodName(rule));
      if (method == nullptr) continue;  // method_rules_test names it
      const MethodRule*& slot = (*map)[method->input_type()];
      if (slot == nullptr || slot->role < rule.role) slot = &rule;
    }
    return map;
  }();
  auto it = by_type->find(request_type);
  return it == by_type->end() ? nullptr : it->second;
}

}  // namespace switchboard::rpc
