#pragma once
// gRPC adapter of the resourcing service. Only the watch RPCs are served in
// this build; the rest answer UNIMPLEMENTED until the resourcing issue lands.
// Watch methods are raw (see server/rpc/watch_stream.h).

#include "server/core/event_hub.h"
#include "server/rpc/guard.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::resourcing {

using ResourcingServiceBase = v1::ResourcingService::WithRawCallbackMethod_WatchEvents<
    v1::ResourcingService::WithRawCallbackMethod_WatchWorkspaces<
        v1::ResourcingService::WithRawCallbackMethod_WatchRun<v1::ResourcingService::CallbackService>>>;

class ResourcingServiceImpl final : public ResourcingServiceBase {
 public:
  ResourcingServiceImpl(const rpc::Guard* guard, core::EventHub* hub) : guard_(guard), hub_(hub) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchWorkspaces(grpc::CallbackServerContext* ctx,
                                                              const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchRun(grpc::CallbackServerContext* ctx,
                                                       const grpc::ByteBuffer* req) override;

 private:
  const rpc::Guard* guard_;
  core::EventHub* hub_;
};

}  // namespace switchboard::resourcing
