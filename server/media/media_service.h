#pragma once
// gRPC adapter of the media service: admits the caller (role), hands the
// request to the MediaEngine, and maps its result in one place
// (common/status). Watch methods are raw (see server/rpc/watch_stream.h).

#include "server/core/event_hub.h"
#include "server/media/media_engine.h"
#include "server/rpc/guard.h"
#include "server/rpc/multi_watch.h"
#include "switchboard/v1/media.grpc.pb.h"

namespace switchboard::media {

using MediaServiceBase = v1::MediaService::WithRawCallbackMethod_WatchEvents<
    v1::MediaService::WithRawCallbackMethod_WatchEventBatches<v1::MediaService::WithRawCallbackMethod_WatchOperation<
        v1::MediaService::WithRawCallbackMethod_WatchStorageEvents<v1::MediaService::CallbackService>>>>;

class MediaServiceImpl final : public MediaServiceBase {
 public:
  MediaServiceImpl(const rpc::Guard* guard, core::EventHub* hub, MediaEngine* engine)
      : guard_(guard), hub_(hub), engine_(engine) {
    // Many watches over one stream, served raw (server/rpc/multi_watch.h).
    MarkMethodRawCallback(rpc::WatchManyIndex(v1::MediaService::service_full_name()),
                          rpc::WatchManyHandler<v1::MediaWatchManyResponse>(guard_, hub_, "media"));
  }

#define SB_MEDIA_UNARY(Method, Req, Resp) \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx, const v1::Req* req, v1::Resp* resp) override;
  SB_MEDIA_UNARY(SetBlobMetadata, SetBlobMetadataRequest, Operation)
  SB_MEDIA_UNARY(AnalyzeBlob, AnalyzeBlobRequest, Operation)
  SB_MEDIA_UNARY(CopyBlob, CopyBlobRequest, Operation)
  SB_MEDIA_UNARY(DeleteBlob, DeleteBlobRequest, Operation)
  SB_MEDIA_UNARY(CreateSasUrl, CreateSasUrlRequest, Operation)
  SB_MEDIA_UNARY(ChangeBlobTier, ChangeBlobTierRequest, Operation)
  SB_MEDIA_UNARY(CreateContainer, CreateContainerRequest, Operation)
  SB_MEDIA_UNARY(DeleteContainer, DeleteContainerRequest, Operation)
  SB_MEDIA_UNARY(ChangeContainerAccess, ChangeContainerAccessRequest, Operation)
  SB_MEDIA_UNARY(RollStorageKey, RollStorageKeyRequest, Operation)
  SB_MEDIA_UNARY(Encode, EncodeRequest, Operation)
  SB_MEDIA_UNARY(CancelEncode, CancelEncodeRequest, Operation)
  SB_MEDIA_UNARY(SubmitBatch, SubmitBatchRequest, SubmitBatchResponse)
  SB_MEDIA_UNARY(ReportStorageEvent, ReportStorageEventRequest, StorageEvent)
  SB_MEDIA_UNARY(GetOperation, GetOperationRequest, Operation)
  SB_MEDIA_UNARY(ListOperations, ListOperationsRequest, ListOperationsResponse)
  SB_MEDIA_UNARY(ListBlobs, ListBlobsRequest, ListBlobsResponse)
#undef SB_MEDIA_UNARY

  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEventBatches(grpc::CallbackServerContext* ctx,
                                                                const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchOperation(grpc::CallbackServerContext* ctx,
                                                             const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchStorageEvents(grpc::CallbackServerContext* ctx,
                                                                 const grpc::ByteBuffer* req) override;

 private:
  const rpc::Guard* guard_;
  core::EventHub* hub_;
  MediaEngine* engine_;
};

}  // namespace switchboard::media
