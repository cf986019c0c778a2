#include "server/media/media_service.h"

#include "absl/strings/match.h"
#include "server/rpc/watch_stream.h"

namespace switchboard::media {
namespace {
constexpr char kService[] = "media";
}  // namespace

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
