#pragma once
// gRPC adapter of the notification service: admits the call, hands plain
// protos to the engines, maps their status. RPCs not listed here answer
// UNIMPLEMENTED until the notification issue lands. Watch methods are raw
// (see server/rpc/watch_stream.h).

#include "server/core/event_hub.h"
#include "server/notification/bus_engine.h"
#include "server/rpc/guard.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::notification {

using NotificationServiceBase = v1::NotificationService::WithRawCallbackMethod_WatchEvents<
    v1::NotificationService::WithRawCallbackMethod_WatchApplications<
        v1::NotificationService::WithRawCallbackMethod_WatchDeliveries<v1::NotificationService::CallbackService>>>;

class NotificationServiceImpl final : public NotificationServiceBase {
 public:
  NotificationServiceImpl(const rpc::Guard* guard, core::EventHub* hub, BusEngine* bus)
      : guard_(guard), hub_(hub), bus_(bus) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* ctx, const v1::PublishRequest* req,
                                    v1::PublishResponse* resp) override;
  grpc::ServerUnaryReactor* GetBusEvent(grpc::CallbackServerContext* ctx, const v1::GetBusEventRequest* req,
                                        v1::BusEvent* resp) override;
  grpc::ServerUnaryReactor* ListBusEvents(grpc::CallbackServerContext* ctx, const v1::ListBusEventsRequest* req,
                                          v1::ListBusEventsResponse* resp) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchApplications(grpc::CallbackServerContext* ctx,
                                                                const grpc::ByteBuffer* req) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchDeliveries(grpc::CallbackServerContext* ctx,
                                                              const grpc::ByteBuffer* req) override;

 private:
  const rpc::Guard* guard_;
  core::EventHub* hub_;
  BusEngine* bus_;
};

}  // namespace switchboard::notification
