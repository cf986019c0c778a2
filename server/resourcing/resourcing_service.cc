#include "server/resourcing/resourcing_service.h"

#include "absl/strings/match.h"
#include "server/rpc/watch_reactor.h"

namespace switchboard::resourcing {

grpc::ServerWriteReactor<v1::ResourcingEvent>* ResourcingServiceImpl::Watch(grpc::CallbackServerContext* ctx,
                                                                            const google::protobuf::Message& req,
                                                                            int64_t after, core::WatchFilter filter) {
  filter.service = "resourcing";
  absl::Status precheck = guard_->Admit(ctx, req, Role::kReader).status();
  return rpc::WatchReactor<v1::ResourcingEvent>::Start(ctx, hub_, after, std::move(filter), precheck);
}

grpc::ServerWriteReactor<v1::ResourcingEvent>* ResourcingServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                                  const v1::WatchEventsRequest* req) {
  return Watch(ctx, *req, req->after_sequence(), {});
}

grpc::ServerWriteReactor<v1::ResourcingEvent>* ResourcingServiceImpl::WatchWorkspaces(
    grpc::CallbackServerContext* ctx, const v1::WatchWorkspacesRequest* req) {
  core::WatchFilter f;
  f.resource = req->workspace();
  absl::Status s;
  if (!f.resource.empty() && !absl::StartsWith(f.resource, "workspaces/")) {
    s = absl::InvalidArgumentError("workspace must be a name such as workspaces/FISH, or empty for all");
  }
  if (!s.ok()) return rpc::WatchReactor<v1::ResourcingEvent>::Start(ctx, hub_, 0, f, s);
  return Watch(ctx, *req, req->after_sequence(), std::move(f));
}

grpc::ServerWriteReactor<v1::ResourcingEvent>* ResourcingServiceImpl::WatchRun(grpc::CallbackServerContext* ctx,
                                                                               const v1::WatchRunRequest* req) {
  core::WatchFilter f;
  f.resource = req->name();
  if (!absl::StartsWith(f.resource, "runs/") || f.resource.size() == 5) {
    return rpc::WatchReactor<v1::ResourcingEvent>::Start(
        ctx, hub_, 0, f, absl::InvalidArgumentError("name must be a run name such as runs/42"));
  }
  return Watch(ctx, *req, req->after_sequence(), std::move(f));
}

}  // namespace switchboard::resourcing
