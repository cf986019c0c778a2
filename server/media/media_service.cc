#include "server/media/media_service.h"

#include "absl/strings/match.h"
#include "server/rpc/watch_reactor.h"

namespace switchboard::media {

grpc::ServerWriteReactor<v1::MediaEvent>* MediaServiceImpl::Watch(grpc::CallbackServerContext* ctx,
                                                                  const google::protobuf::Message& req,
                                                                  int64_t after, core::WatchFilter filter) {
  filter.service = "media";
  absl::Status precheck = guard_->Admit(ctx, req, Role::kReader).status();
  return rpc::WatchReactor<v1::MediaEvent>::Start(ctx, hub_, after, std::move(filter), precheck);
}

grpc::ServerWriteReactor<v1::MediaEvent>* MediaServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                        const v1::WatchEventsRequest* req) {
  return Watch(ctx, *req, req->after_sequence(), {});
}

grpc::ServerWriteReactor<v1::MediaEvent>* MediaServiceImpl::WatchOperation(grpc::CallbackServerContext* ctx,
                                                                           const v1::WatchOperationRequest* req) {
  core::WatchFilter f;
  f.resource = req->name();
  if (!absl::StartsWith(f.resource, "operations/") || f.resource.size() == 11) {
    return rpc::WatchReactor<v1::MediaEvent>::Start(
        ctx, hub_, 0, f, absl::InvalidArgumentError("name must be an operation name such as operations/abc123"));
  }
  return Watch(ctx, *req, req->after_sequence(), std::move(f));
}

grpc::ServerWriteReactor<v1::MediaEvent>* MediaServiceImpl::WatchStorageEvents(
    grpc::CallbackServerContext* ctx, const v1::WatchStorageEventsRequest* req) {
  core::WatchFilter f;
  f.kinds = {"storage"};
  f.resource_prefix = req->uri_prefix();
  return Watch(ctx, *req, req->after_sequence(), std::move(f));
}

}  // namespace switchboard::media
