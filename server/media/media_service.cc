#include "server/media/media_service.h"

#include "absl/strings/match.h"
#include "server/rpc/watch_stream.h"

namespace switchboard::media {
namespace {
constexpr char kService[] = "media";
}  // namespace

// Mutations need the operator role (key rolls: admin); reads the reader role.
#define SB_MEDIA_ASYNC(Method, Req, Resp, role)                                                    \
  grpc::ServerUnaryReactor* MediaServiceImpl::Method(grpc::CallbackServerContext* ctx, const v1::Req* req, \
                                                     v1::Resp* resp) {                              \
    auto principal = guard_->Admit(ctx, *req, role);                                               \
    if (!principal.ok()) return rpc::FinishNow<v1::Resp>(ctx, principal.status(), resp);          \
    auto* reactor = ctx->DefaultReactor();                                                         \
    engine_->Method(*req, rpc::Completer(ctx, reactor, resp));                                     \
    return reactor;                                                                                \
  }
SB_MEDIA_ASYNC(SetBlobMetadata, SetBlobMetadataRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(AnalyzeBlob, AnalyzeBlobRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(CopyBlob, CopyBlobRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(DeleteBlob, DeleteBlobRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(CreateSasUrl, CreateSasUrlRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(ChangeBlobTier, ChangeBlobTierRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(CreateContainer, CreateContainerRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(DeleteContainer, DeleteContainerRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(ChangeContainerAccess, ChangeContainerAccessRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(RollStorageKey, RollStorageKeyRequest, Operation, Role::kAdmin)
SB_MEDIA_ASYNC(Encode, EncodeRequest, Operation, Role::kOperator)
SB_MEDIA_ASYNC(CancelEncode, CancelEncodeRequest, Operation, Role::kOperator)
#undef SB_MEDIA_ASYNC

grpc::ServerUnaryReactor* MediaServiceImpl::SubmitBatch(grpc::CallbackServerContext* ctx,
                                                        const v1::SubmitBatchRequest* req,
                                                        v1::SubmitBatchResponse* resp) {
  Role role = Role::kOperator;
  for (const auto& item : req->requests()) {
    if (item.has_roll_storage_key()) role = Role::kAdmin;
  }
  return rpc::AsyncCall(ctx, *guard_, *req, resp, role,
                        [&](const auto&, auto done) { engine_->SubmitBatch(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* MediaServiceImpl::ReportStorageEvent(grpc::CallbackServerContext* ctx,
                                                               const v1::ReportStorageEventRequest* req,
                                                               v1::StorageEvent* resp) {
  auto principal = guard_->Admit(ctx, *req, Role::kOperator);
  if (!principal.ok()) return rpc::FinishNow<v1::StorageEvent>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, engine_->ReportStorageEvent(*req), resp);
}

grpc::ServerUnaryReactor* MediaServiceImpl::GetOperation(grpc::CallbackServerContext* ctx,
                                                         const v1::GetOperationRequest* req, v1::Operation* resp) {
  auto principal = guard_->Admit(ctx, *req, Role::kReader);
  if (!principal.ok()) return rpc::FinishNow<v1::Operation>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, engine_->GetOperation(req->name()), resp);
}

grpc::ServerUnaryReactor* MediaServiceImpl::ListOperations(grpc::CallbackServerContext* ctx,
                                                           const v1::ListOperationsRequest* req,
                                                           v1::ListOperationsResponse* resp) {
  auto principal = guard_->Admit(ctx, *req, Role::kReader);
  if (!principal.ok()) return rpc::FinishNow<v1::ListOperationsResponse>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, engine_->ListOperations(*req), resp);
}

grpc::ServerUnaryReactor* MediaServiceImpl::ListBlobs(grpc::CallbackServerContext* ctx,
                                                      const v1::ListBlobsRequest* req, v1::ListBlobsResponse* resp) {
  auto principal = guard_->Admit(ctx, *req, Role::kReader);
  if (!principal.ok()) return rpc::FinishNow<v1::ListBlobsResponse>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, engine_->ListBlobs(*req), resp);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* MediaServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                      const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchEventsRequest>(ctx, *guard_, hub_, kService, raw,
                                                 [](const auto&, core::WatchFilter*) { return absl::OkStatus(); });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* MediaServiceImpl::WatchOperation(grpc::CallbackServerContext* ctx,
                                                                         const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchOperationRequest>(
      ctx, *guard_, hub_, kService, raw, [](const v1::WatchOperationRequest& req, core::WatchFilter* f) {
        if (!absl::StartsWith(req.name(), "operations/") || req.name().size() == 11) {
          return absl::InvalidArgumentError("name must be an operation name such as operations/abc123");
        }
        f->resource = req.name();
        return absl::OkStatus();
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
