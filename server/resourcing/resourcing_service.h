#pragma once
// gRPC adapter of the resourcing service. Only the watch RPCs are served in
// this build; the rest answer UNIMPLEMENTED until the resourcing issue lands.

#include "server/core/event_hub.h"
#include "server/rpc/guard.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::resourcing {

class ResourcingServiceImpl final : public v1::ResourcingService::CallbackService {
 public:
  ResourcingServiceImpl(const rpc::Guard* guard, core::EventHub* hub) : guard_(guard), hub_(hub) {}

  grpc::ServerWriteReactor<v1::ResourcingEvent>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                             const v1::WatchEventsRequest* req) override;
  grpc::ServerWriteReactor<v1::ResourcingEvent>* WatchWorkspaces(grpc::CallbackServerContext* ctx,
                                                                 const v1::WatchWorkspacesRequest* req) override;
  grpc::ServerWriteReactor<v1::ResourcingEvent>* WatchRun(grpc::CallbackServerContext* ctx,
                                                          const v1::WatchRunRequest* req) override;

 private:
  grpc::ServerWriteReactor<v1::ResourcingEvent>* Watch(grpc::CallbackServerContext* ctx,
                                                       const google::protobuf::Message& req, int64_t after,
                                                       core::WatchFilter filter);
  const rpc::Guard* guard_;
  core::EventHub* hub_;
};

}  // namespace switchboard::resourcing
