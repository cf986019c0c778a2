#include "server/notification/notification_service.h"

#include "server/rpc/watch_reactor.h"

namespace switchboard::notification {

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

grpc::ServerWriteReactor<v1::NotificationEvent>* NotificationServiceImpl::Watch(
    grpc::CallbackServerContext* ctx, const google::protobuf::Message& req, int64_t after, core::WatchFilter filter) {
  filter.service = "notification";
  absl::Status precheck = guard_->Admit(ctx, req, Role::kReader).status();
  return rpc::WatchReactor<v1::NotificationEvent>::Start(ctx, hub_, after, std::move(filter), precheck);
}

grpc::ServerWriteReactor<v1::NotificationEvent>* NotificationServiceImpl::WatchEvents(
    grpc::CallbackServerContext* ctx, const v1::WatchEventsRequest* req) {
  return Watch(ctx, *req, req->after_sequence(), {});
}

grpc::ServerWriteReactor<v1::NotificationEvent>* NotificationServiceImpl::WatchApplications(
    grpc::CallbackServerContext* ctx, const v1::WatchApplicationsRequest* req) {
  core::WatchFilter f;
  f.kinds = {"application"};
  f.resource = req->name();
  return Watch(ctx, *req, req->after_sequence(), std::move(f));
}

grpc::ServerWriteReactor<v1::NotificationEvent>* NotificationServiceImpl::WatchDeliveries(
    grpc::CallbackServerContext* ctx, const v1::WatchDeliveriesRequest* req) {
  core::WatchFilter f;
  f.kinds = {"delivery"};
  f.resource = req->webhook();
  return Watch(ctx, *req, req->after_sequence(), std::move(f));
}

}  // namespace switchboard::notification
