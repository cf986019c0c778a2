#include "server/notification/notification_service.h"

#include "server/rpc/watch_stream.h"

namespace switchboard::notification {

namespace {
constexpr char kService[] = "notification";
}  // namespace

grpc::ServerUnaryReactor* NotificationServiceImpl::Publish(grpc::CallbackServerContext* ctx,
                                                           const v1::PublishRequest* req, v1::PublishResponse* resp) {
  auto principal = guard_->Admit(ctx, *req, Role::kOperator);
  if (!principal.ok()) return rpc::FinishNow<v1::PublishResponse>(ctx, principal.status(), resp);
  auto* reactor = ctx->DefaultReactor();
  bus_->Publish(*principal, *req, rpc::Completer(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* NotificationServiceImpl::GetBusEvent(grpc::CallbackServerContext* ctx,
                                                               const v1::GetBusEventRequest* req, v1::BusEvent* resp) {
  auto principal = guard_->Admit(ctx, *req, Role::kReader);
  if (!principal.ok()) return rpc::FinishNow<v1::BusEvent>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, bus_->GetBusEvent(req->name()), resp);
}

grpc::ServerUnaryReactor* NotificationServiceImpl::ListBusEvents(grpc::CallbackServerContext* ctx,
                                                                 const v1::ListBusEventsRequest* req,
                                                                 v1::ListBusEventsResponse* resp) {
  auto principal = guard_->Admit(ctx, *req, Role::kReader);
  if (!principal.ok()) return rpc::FinishNow<v1::ListBusEventsResponse>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, bus_->ListBusEvents(*req), resp);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* NotificationServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                             const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchEventsRequest>(ctx, *guard_, hub_, kService, raw,
                                                 [](const auto&, core::WatchFilter*) { return absl::OkStatus(); });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* NotificationServiceImpl::WatchApplications(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchApplicationsRequest>(ctx, *guard_, hub_, kService, raw,
                                                       [](const auto& req, core::WatchFilter* f) {
                                                         f->kinds = {"application"};
                                                         f->resource = req.name();
                                                         return absl::OkStatus();
                                                       });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* NotificationServiceImpl::WatchDeliveries(grpc::CallbackServerContext* ctx,
                                                                                 const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchDeliveriesRequest>(ctx, *guard_, hub_, kService, raw,
                                                     [](const auto& req, core::WatchFilter* f) {
                                                       f->kinds = {"delivery"};
                                                       f->resource = req.webhook();
                                                       return absl::OkStatus();
                                                     });
}

}  // namespace switchboard::notification
