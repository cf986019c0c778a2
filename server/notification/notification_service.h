#pragma once
// gRPC adapter of the notification service: admits the call, hands plain
// protos to the engines, maps their status. RPCs not listed here answer
// UNIMPLEMENTED until the notification issue lands.

#include "server/core/event_hub.h"
#include "server/notification/bus_engine.h"
#include "server/rpc/guard.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::notification {

class NotificationServiceImpl final : public v1::NotificationService::CallbackService {
 public:
  NotificationServiceImpl(const rpc::Guard* guard, core::EventHub* hub, BusEngine* bus)
      : guard_(guard), hub_(hub), bus_(bus) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* ctx, const v1::PublishRequest* req,
                                    v1::PublishResponse* resp) override;
  grpc::ServerUnaryReactor* GetBusEvent(grpc::CallbackServerContext* ctx, const v1::GetBusEventRequest* req,
                                        v1::BusEvent* resp) override;
  grpc::ServerUnaryReactor* ListBusEvents(grpc::CallbackServerContext* ctx, const v1::ListBusEventsRequest* req,
                                          v1::ListBusEventsResponse* resp) override;
  grpc::ServerWriteReactor<v1::NotificationEvent>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                               const v1::WatchEventsRequest* req) override;
  grpc::ServerWriteReactor<v1::NotificationEvent>* WatchApplications(
      grpc::CallbackServerContext* ctx, const v1::WatchApplicationsRequest* req) override;
  grpc::ServerWriteReactor<v1::NotificationEvent>* WatchDeliveries(grpc::CallbackServerContext* ctx,
                                                                   const v1::WatchDeliveriesRequest* req) override;

 private:
  grpc::ServerWriteReactor<v1::NotificationEvent>* Watch(grpc::CallbackServerContext* ctx,
                                                         const google::protobuf::Message& req, int64_t after,
                                                         core::WatchFilter filter);
  const rpc::Guard* guard_;
  core::EventHub* hub_;
  BusEngine* bus_;
};

}  // namespace switchboard::notification
