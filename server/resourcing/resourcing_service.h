#pragma once
// gRPC adapter of the resourcing service: admits the call, hands plain
// protos to the ResourcingEngine, maps its status. Watch methods are raw
// (see server/rpc/watch_stream.h). No handler waits: calls that commit or
// touch git answer from the engine's `done` (rpc::AsyncCall), and reads are
// one store read (rpc::SyncCall).

#include "server/core/event_hub.h"
#include "server/resourcing/engine.h"
#include "server/rpc/guard.h"
#include "server/rpc/multi_watch.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::resourcing {

using ResourcingServiceBase = v1::ResourcingService::WithRawCallbackMethod_WatchEvents<
    v1::ResourcingService::WithRawCallbackMethod_WatchWorkspaces<
        v1::ResourcingService::WithRawCallbackMethod_WatchRun<v1::ResourcingService::CallbackService>>>;

class ResourcingServiceImpl final : public ResourcingServiceBase {
 public:
  ResourcingServiceImpl(const rpc::Guard* guard, core::EventHub* hub, ResourcingEngine* engine)
      : guard_(guard), hub_(hub), engine_(engine) {
    // Many watches over one stream, served raw (server/rpc/multi_watch.h).
    MarkMethodRawCallback(rpc::WatchManyIndex(v1::ResourcingService::service_full_name()),
                          rpc::WatchManyHandler<v1::ResourcingWatchManyResponse>(guard_, hub_, "resourcing"));
  }

  grpc::ServerUnaryReactor* SubmitRun(grpc::CallbackServerContext* ctx, const v1::SubmitRunRequest* req,
                                      v1::Run* resp) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* ctx, const v1::GetRunRequest* req,
                                   v1::Run* resp) override;
  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* ctx, const v1::ListRunsRequest* req,
                                     v1::ListRunsResponse* resp) override;
  grpc::ServerUnaryReactor* GetWorkspace(grpc::CallbackServerContext* ctx, const v1::GetWorkspaceRequest* req,
                                         v1::Workspace* resp) override;
  grpc::ServerUnaryReactor* ListWorkspaces(grpc::CallbackServerContext* ctx, const v1::ListWorkspacesRequest* req,
                                           v1::ListWorkspacesResponse* resp) override;
  grpc::ServerUnaryReactor* GetPullRequest(grpc::CallbackServerContext* ctx, const v1::GetPullRequestRequest* req,
                                           v1::PullRequest* resp) override;
  grpc::ServerUnaryReactor* ListPullRequests(grpc::CallbackServerContext* ctx,
                                             const v1::ListPullRequestsRequest* req,
                                             v1::ListPullRequestsResponse* resp) override;
  grpc::ServerUnaryReactor* ApprovePullRequest(grpc::CallbackServerContext* ctx,
                                               const v1::ApprovePullRequestRequest* req,
                                               v1::PullRequest* resp) override;
  grpc::ServerUnaryReactor* AbandonPullRequest(grpc::CallbackServerContext* ctx,
                                               const v1::AbandonPullRequestRequest* req,
                                               v1::PullRequest* resp) override;
  grpc::ServerUnaryReactor* ReportPipelineOutputs(grpc::CallbackServerContext* ctx,
                                                  const v1::ReportPipelineOutputsRequest* req,
                                                  v1::ReportPipelineOutputsResponse* resp) override;

  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchWorkspaces(grpc::CallbackServerContext* ctx,
                                                              const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchRun(grpc::CallbackServerContext* ctx,
                                                       const grpc::ByteBuffer* req) override;

 private:
  const rpc::Guard* guard_;
  core::EventHub* hub_;
  ResourcingEngine* engine_;
};

}  // namespace switchboard::resourcing
