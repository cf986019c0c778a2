#include "server/resourcing/resourcing_service.h"

#include "absl/strings/match.h"
#include "server/resourcing/names.h"
#include "server/rpc/watch_stream.h"

namespace switchboard::resourcing {

using rpc::AsyncCall;
using rpc::SyncCall;

// Mutating calls answer from the engine's `done` (AsyncCall); reads are one
// store read (SyncCall, on a pooled WAL read connection: see
// tests/repo/no_blocking_test.sh); a watch's lookup runs on the hub's
// threads. Nothing here waits.

grpc::ServerUnaryReactor* ResourcingServiceImpl::SubmitRun(grpc::CallbackServerContext* ctx,
                                                           const v1::SubmitRunRequest* req, v1::Run* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal& p, auto done) { engine_->SubmitRun(p, *req, std::move(done)); });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::GetRun(grpc::CallbackServerContext* ctx, const v1::GetRunRequest* req,
                                                        v1::Run* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal&) { return engine_->GetRun(req->name()); });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ListRuns(grpc::CallbackServerContext* ctx,
                                                          const v1::ListRunsRequest* req, v1::ListRunsResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal&) { return engine_->ListRuns(*req); });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::GetWorkspace(grpc::CallbackServerContext* ctx,
                                                              const v1::GetWorkspaceRequest* req, v1::Workspace* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal& p) {
    return engine_->GetWorkspace(req->name(), p.role == Role::kAdmin);
  });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ListWorkspaces(grpc::CallbackServerContext* ctx,
                                                                const v1::ListWorkspacesRequest* req,
                                                                v1::ListWorkspacesResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal& p) {
    return engine_->ListWorkspaces(*req, p.role == Role::kAdmin);
  });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::GetPullRequest(grpc::CallbackServerContext* ctx,
                                                                const v1::GetPullRequestRequest* req,
                                                                v1::PullRequest* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal&) { return engine_->GetPullRequest(req->name()); });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ListPullRequests(grpc::CallbackServerContext* ctx,
                                                                  const v1::ListPullRequestsRequest* req,
                                                                  v1::ListPullRequestsResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal&) { return engine_->ListPullRequests(*req); });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ApprovePullRequest(grpc::CallbackServerContext* ctx,
                                                                    const v1::ApprovePullRequestRequest* req,
                                                                    v1::PullRequest* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal& p, auto done) { engine_->ApprovePullRequest(p, *req, std::move(done)); });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::AbandonPullRequest(grpc::CallbackServerContext* ctx,
                                                                    const v1::AbandonPullRequestRequest* req,
                                                                    v1::PullRequest* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal& p, auto done) { engine_->AbandonPullRequest(p, *req, std::move(done)); });
}

grpc::ServerUnaryReactor* ResourcingServiceImpl::ReportPipelineOutputs(grpc::CallbackServerContext* ctx,
                                                                       const v1::ReportPipelineOutputsRequest* req,
                                                                       v1::ReportPipelineOutputsResponse* resp) {
  return AsyncCall(ctx, *guard_, *req, resp, [&](const Principal& p, auto done) {
    engine_->ReportPipelineOutputs(*req, p.role == Role::kAdmin, std::move(done));
  });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                           const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchEventsRequest>(ctx, *guard_, hub_, kService, raw,
                                                 [](const auto&, core::WatchFilter*) { return absl::OkStatus(); });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchWorkspaces(grpc::CallbackServerContext* ctx,
                                                                               const grpc::ByteBuffer* raw) {
  return rpc::StartWatchAfterLookup<v1::WatchWorkspacesRequest>(
      ctx, *guard_, hub_, kService, raw,
      [](const v1::WatchWorkspacesRequest& req, core::WatchFilter* f) {
        if (!req.workspace().empty() && !absl::StartsWith(req.workspace(), "workspaces/")) {
          return absl::InvalidArgumentError("workspace must be a name such as workspaces/FISH, or empty for all");
        }
        f->resource = req.workspace();
        return absl::OkStatus();
      },
      // On a hub thread: only a workspace that exists now (docs/api.md), NOT_FOUND otherwise.
      [this](const v1::WatchWorkspacesRequest& req, core::WatchFilter*) {
        if (req.workspace().empty()) return absl::OkStatus();
        return engine_->GetWorkspace(req.workspace(), false).status();
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ResourcingServiceImpl::WatchRun(grpc::CallbackServerContext* ctx,
                                                                        const grpc::ByteBuffer* raw) {
  return rpc::StartWatchAfterLookup<v1::WatchRunRequest>(
      ctx, *guard_, hub_, kService, raw,
      [](const v1::WatchRunRequest& req, core::WatchFilter* f) {
        if (!absl::StartsWith(req.name(), "runs/") || req.name().size() == 5) {
          return absl::InvalidArgumentError("name must be a run name such as runs/42");
        }
        f->resource = req.name();
        return absl::OkStatus();
      },
      // On a hub thread: only a run that exists now (docs/api.md), NOT_FOUND otherwise.
      [this](const v1::WatchRunRequest& req, core::WatchFilter*) { return engine_->GetRun(req.name()).status(); });
}

}  // namespace switchboard::resourcing
