#pragma once
// gRPC adapter of the media service. Only the watch RPCs are served in this
// build; the rest answer UNIMPLEMENTED until the media issue lands.

#include "server/core/event_hub.h"
#include "server/rpc/guard.h"
#include "switchboard/v1/media.grpc.pb.h"

namespace switchboard::media {

class MediaServiceImpl final : public v1::MediaService::CallbackService {
 public:
  MediaServiceImpl(const rpc::Guard* guard, core::EventHub* hub) : guard_(guard), hub_(hub) {}

  grpc::ServerWriteReactor<v1::MediaEvent>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                        const v1::WatchEventsRequest* req) override;
  grpc::ServerWriteReactor<v1::MediaEvent>* WatchOperation(grpc::CallbackServerContext* ctx,
                                                           const v1::WatchOperationRequest* req) override;
  grpc::ServerWriteReactor<v1::MediaEvent>* WatchStorageEvents(grpc::CallbackServerContext* ctx,
                                                               const v1::WatchStorageEventsRequest* req) override;

 private:
  grpc::ServerWriteReactor<v1::MediaEvent>* Watch(grpc::CallbackServerContext* ctx,
                                                  const google::protobuf::Message& req, int64_t after,
                                                  core::WatchFilter filter);
  const rpc::Guard* guard_;
  core::EventHub* hub_;
};

}  // namespace switchboard::media
