#pragma once
// gRPC adapter of the media service. Only the watch RPCs are served in this
// build; the rest answer UNIMPLEMENTED until the media issue lands. Watch
// methods are raw (see server/rpc/watch_stream.h).

#include "server/core/event_hub.h"
#include "server/rpc/guard.h"
#include "switchboard/v1/media.grpc.pb.h"

namespace switchboard::media {

using MediaServiceBase = v1::MediaService::WithRawCallbackMethod_WatchEvents<
    v1::MediaService::WithRawCallbackMethod_WatchOperation<
        v1::MediaService::WithRawCallbackMethod_WatchStorageEvents<v1::MediaService::CallbackService>>>;

class MediaServiceImpl final : public MediaServiceBase {
 public:
  MediaServiceImpl(const rpc::Guard* guard, core::EventHub* hub) : guard_(guard), hub_(hub) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchOperation(grpc::CallbackServerContext* ctx,
                                                             const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchStorageEvents(grpc::CallbackServerContext* ctx,
                                                                 const grpc::ByteBuffer* req) override;

 private:
  const rpc::Guard* guard_;
  core::EventHub* hub_;
};

}  // namespace switchboard::media
