#include "server/resourcing/resourcing_service.h"

#include "absl/strings/match.h"
#include "server/resourcing/names.h"
#include "server/rpc/watch_stream.h"

namespace switchboard::resourcing {

#define SB_ADMIT(Resp)                                                     \
  auto principal = guard_->Admit(ctx, *req);                               \
  if (!principal.ok()) return rpc::FinishNow<Resp>(ctx, principal.status(), resp)

grpc::ServerUnaryReactor* ResourcingServiceImpl::SubmitRun(grpc::CallbackServerContext* ctx,
                                                           const v1::SubmitRunRequest* req, v1::Run* resp) {
  SB_ADMIT(v1::Run);
  return rpc::FinishNow(ctx, engine_->SubmitRun(*principal, *req), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::GetRun(grpc::CallbackServerContext* ctx, const v1::GetRunRequest* req,
                                                        v1::Run* resp) {
  SB_ADMIT(v1::Run);
  return rpc::FinishNow(ctx, engine_->GetRun(req->name()), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ListRuns(grpc::CallbackServerContext* ctx,
                                                          const v1::ListRunsRequest* req, v1::ListRunsResponse* resp) {
  SB_ADMIT(v1::ListRunsResponse);
  return rpc::FinishNow(ctx, engine_->ListRuns(*req), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::GetWorkspace(grpc::CallbackServerContext* ctx,
                                                              const v1::GetWorkspaceRequest* req, v1::Workspace* resp) {
  SB_ADMIT(v1::Workspace);
  return rpc::FinishNow(ctx, engine_->GetWorkspace(req->name(), principal->role == Role::kAdmin), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ListWorkspaces(grpc::CallbackServerContext* ctx,
                                                                const v1::ListWorkspacesRequest* req,
                                                                v1::ListWorkspacesResponse* resp) {
  SB_ADMIT(v1::ListWorkspacesResponse);
  return rpc::FinishNow(ctx, engine_->ListWorkspaces(*req, principal->role == Role::kAdmin), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::GetPullRequest(grpc::CallbackServerContext* ctx,
                                                                const v1::GetPullRequestRequest* req,
                                                                v1::PullRequest* resp) {
  SB_ADMIT(v1::PullRequest);
  return rpc::FinishNow(ctx, engine_->GetPullRequest(req->name()), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ListPullRequests(grpc::CallbackServerContext* ctx,
                                                                  const v1::ListPullRequestsRequest* req,
                                                                  v1::ListPullRequestsResponse* resp) {
  SB_ADMIT(v1::ListPullRequestsResponse);
  return rpc::FinishNow(ctx, engine_->ListPullRequests(*req), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ApprovePullRequest(grpc::CallbackServerContext* ctx,
                                                                    const v1::ApprovePullRequestRequest* req,
                                                                    v1::PullRequest* resp) {
  SB_ADMIT(v1::PullRequest);
  return rpc::FinishNow(ctx, engine_->ApprovePullRequest(*principal, *req), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::AbandonPullRequest(grpc::CallbackServerContext* ctx,
                                                                    const v1::AbandonPullRequestRequest* req,
                                                                    v1::PullRequest* resp) {
  SB_ADMIT(v1::PullRequest);
  return rpc::FinishNow(ctx, engine_->AbandonPullRequest(*principal, *req), resp);
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ReportPipelineOutputs(grpc::CallbackServerContext* ctx,
                                                                       const v1::ReportPipelineOutputsRequest* req,
                                                                       v1::ReportPipelineOutputsResponse* resp) {
  SB_ADMIT(v1::ReportPipelineOutputsResponse);
  return rpc::FinishNow(ctx, engine_->ReportPipelineOutputs(*req, principal->role == Role::kAdmin), resp);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                           const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchEventsRequest>(ctx, *guard_, hub_, kService, raw,
                                                 [](const auto&, core::WatchFilter*) { return absl::OkStatus(); });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchWorkspaces(grpc::CallbackServerContext* ctx,
                                                                               const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchWorkspacesRequest>(
      ctx, *guard_, hub_, kService, raw, [this](const v1::WatchWorkspacesRequest& req, core::WatchFilter* f) {
        if (!req.workspace().empty() && !absl::StartsWith(req.workspace(), "workspaces/")) {
          return absl::InvalidArgumentError("workspace must be a name such as workspaces/FISH, or empty for all");
        }
        // Only a workspace that exists now (docs/api.md): NOT_FOUND otherwise.
        if (!req.workspace().empty()) RETURN_IF_ERROR(engine_->GetWorkspace(req.workspace(), false).status());
        f->resource = req.workspace();
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchRun(grpc::CallbackServerContext* ctx,
                                                                        const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchRunRequest>(
      ctx, *guard_, hub_, kService, raw, [this](const v1::WatchRunRequest& req, core::WatchFilter* f) {
        if (!absl::StartsWith(req.name(), "runs/") || req.name().size() == 5) {
          return absl::InvalidArgumentError("name must be a run name such as runs/42");
        }
        // Only a run that exists now (docs/api.md): NOT_FOUND otherwise.
        RETURN_IF_ERROR(engine_->GetRun(req.name()).status());
        f->resource = req.name();
        return absl::OkStatus();
      });
}

}  // namespace switchboard::resourcing
