#include "server/media/media_service.h"

#include "absl/strings/match.h"
#include "server/rpc/watch_stream.h"

namespace switchboard::media {
namespace {
constexpr char kService[] = "media";
// WatchEventBatches: most events per message (media.proto).
constexpr int kMaxEventsPerBatch = 256;
}  // namespace

// Roles: server/rpc/method_rules.cc.
#define SB_MEDIA_ASYNC(Method, Req, Resp)                                                    \
  grpc::ServerUnaryReactor* MediaServiceImpl::Method(grpc::CallbackServerContext* ctx, const v1::Req* req, \
                                                     v1::Resp* resp) {                              \
    auto principal = guard_->Admit(ctx, *req);                                                     \
    if (!principal.ok()) return rpc::FinishNow<v1::Resp>(ctx, principal.status(), resp);          \
    auto* reactor = ctx->DefaultReactor();                                                         \
    engine_->Method(*req, rpc::Completer(ctx, reactor, resp));                                     \
    return reactor;                                                                                \
  }
SB_MEDIA_ASYNC(SetBlobMetadata, SetBlobMetadataRequest, Operation)
SB_MEDIA_ASYNC(AnalyzeBlob, AnalyzeBlobRequest, Operation)
SB_MEDIA_ASYNC(CopyBlob, CopyBlobRequest, Operation)
SB_MEDIA_ASYNC(DeleteBlob, DeleteBlobRequest, Operation)
SB_MEDIA_ASYNC(CreateSasUrl, CreateSasUrlRequest, Operation)
SB_MEDIA_ASYNC(ChangeBlobTier, ChangeBlobTierRequest, Operation)
SB_MEDIA_ASYNC(CreateContainer, CreateContainerRequest, Operation)
SB_MEDIA_ASYNC(DeleteContainer, DeleteContainerRequest, Operation)
SB_MEDIA_ASYNC(ChangeContainerAccess, ChangeContainerAccessRequest, Operation)
SB_MEDIA_ASYNC(RollStorageKey, RollStorageKeyRequest, Operation)
SB_MEDIA_ASYNC(Encode, EncodeRequest, Operation)
SB_MEDIA_ASYNC(CancelEncode, CancelEncodeRequest, Operation)
#undef SB_MEDIA_ASYNC

grpc::ServerUnaryReactor* MediaServiceImpl::SubmitBatch(grpc::CallbackServerContext* ctx,
                                                        const v1::SubmitBatchRequest* req,
                                                        v1::SubmitBatchResponse* resp) {
  // A key roll in the batch needs what RollStorageKey needs.
  Role at_least = Role::kReader;
  for (const auto& item : req->requests()) {
    if (item.has_roll_storage_key()) at_least = Role::kAdmin;
  }
  return rpc::AsyncCall(
      ctx, *guard_, *req, resp, [&](const auto&, auto done) { engine_->SubmitBatch(*req, std::move(done)); },
      at_least);
}

grpc::ServerUnaryReactor* MediaServiceImpl::ReportStorageEvent(grpc::CallbackServerContext* ctx,
                                                               const v1::ReportStorageEventRequest* req,
                                                               v1::StorageEvent* resp) {
  return rpc::AsyncCall(ctx, *guard_, *req, resp,
                        [&](const auto&, auto done) { engine_->ReportStorageEvent(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* MediaServiceImpl::GetOperation(grpc::CallbackServerContext* ctx,
                                                         const v1::GetOperationRequest* req, v1::Operation* resp) {
  auto principal = guard_->Admit(ctx, *req);
  if (!principal.ok()) return rpc::FinishNow<v1::Operation>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, engine_->GetOperation(req->name()), resp);
}

grpc::ServerUnaryReactor* MediaServiceImpl::ListOperations(grpc::CallbackServerContext* ctx,
                                                           const v1::ListOperationsRequest* req,
                                                           v1::ListOperationsResponse* resp) {
  auto principal = guard_->Admit(ctx, *req);
  if (!principal.ok()) return rpc::FinishNow<v1::ListOperationsResponse>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, engine_->ListOperations(*req), resp);
}

grpc::ServerUnaryReactor* MediaServiceImpl::ListBlobs(grpc::CallbackServerContext* ctx,
                                                      const v1::ListBlobsRequest* req, v1::ListBlobsResponse* resp) {
  auto principal = guard_->Admit(ctx, *req);
  if (!principal.ok()) return rpc::FinishNow<v1::ListBlobsResponse>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, engine_->ListBlobs(*req), resp);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* MediaServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                      const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchEventsRequest>(ctx, *guard_, hub_, kService, raw,
                                                 [](const auto&, core::WatchFilter*) { return absl::OkStatus(); });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* MediaServiceImpl::WatchEventBatches(grpc::CallbackServerContext* ctx,
                                                                            const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchEventsRequest>(
      ctx, *guard_, hub_, kService, raw, [](const auto&, core::WatchFilter*) { return absl::OkStatus(); },
      kMaxEventsPerBatch);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* MediaServiceImpl::WatchOperation(grpc::CallbackServerContext* ctx,
                                                                         const grpc::ByteBuffer* raw) {
  return rpc::StartWatchAfterLookup<v1::WatchOperationRequest>(
      ctx, *guard_, hub_, kService, raw,
      [](const v1::WatchOperationRequest& req, core::WatchFilter* f) {
        if (!absl::StartsWith(req.name(), "operations/") || req.name().size() == 11) {
          return absl::InvalidArgumentError("name must be an operation name such as operations/abc123");
        }
        f->resource = req.name();
        return absl::OkStatus();
      },
      // On a hub thread: only an operation that exists now (docs/api.md), NOT_FOUND otherwise.
      [this](const v1::WatchOperationRequest& req, core::WatchFilter*) {
        return engine_->GetOperation(req.name()).status();
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* MediaServiceImpl::WatchStorageEvents(grpc::CallbackServerContext* ctx,
                                                                             const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchStorageEventsRequest>(
      ctx, *guard_, hub_, kService, raw, [](const v1::WatchStorageEventsRequest& req, core::WatchFilter* f) {
        f->kinds = {"storage"};
        f->resource_prefix = req.uri_prefix();
        return absl::OkStatus();
      });
}

}  // namespace switchboard::media
