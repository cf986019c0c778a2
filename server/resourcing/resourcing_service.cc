#include "server/resourcing/resourcing_service.h"

#include "absl/strings/match.h"
#include "server/rpc/watch_stream.h"

namespace switchboard::resourcing {
namespace {
constexpr char kService[] = "resourcing";
}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                           const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchEventsRequest>(ctx, *guard_, hub_, kService, raw,
                                                 [](const auto&, core::WatchFilter*) { return absl::OkStatus(); });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchWorkspaces(grpc::CallbackServerContext* ctx,
                                                                               const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchWorkspacesRequest>(
      ctx, *guard_, hub_, kService, raw, [](const v1::WatchWorkspacesRequest& req, core::WatchFilter* f) {
        if (!req.workspace().empty() && !absl::StartsWith(req.workspace(), "workspaces/")) {
          return absl::InvalidArgumentError("workspace must be a name such as workspaces/FISH, or empty for all");
        }
        f->resource = req.workspace();
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchRun(grpc::CallbackServerContext* ctx,
                                                                        const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchRunRequest>(
      ctx, *guard_, hub_, kService, raw, [](const v1::WatchRunRequest& req, core::WatchFilter* f) {
        if (!absl::StartsWith(req.name(), "runs/") || req.name().size() == 5) {
          return absl::InvalidArgumentError("name must be a run name such as runs/42");
        }
        f->resource = req.name();
        return absl::OkStatus();
      });
}

}  // namespace switchboard::resourcing
