#pragma once
// gRPC adapter of the notification service: admits the call, hands plain
// protos to the engines, maps their status. No logic lives here. Watch
// methods are raw (see server/rpc/watch_stream.h).

#include "server/core/event_hub.h"
#include "server/notification/bus_engine.h"
#include "server/notification/managed_apps.h"
#include "server/notification/queues.h"
#include "server/notification/webhooks.h"
#include "server/rpc/guard.h"
#include "server/rpc/multi_watch.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::notification {

using NotificationServiceBase = v1::NotificationService::WithRawCallbackMethod_WatchEvents<
    v1::NotificationService::WithRawCallbackMethod_WatchApplications<
        v1::NotificationService::WithRawCallbackMethod_WatchDeliveries<v1::NotificationService::CallbackService>>>;

struct Engines {
  BusEngine* bus = nullptr;
  QueueEngine* queues = nullptr;
  ManagedAppEngine* apps = nullptr;
  WebhookEngine* webhooks = nullptr;
};

class NotificationServiceImpl final : public NotificationServiceBase {
 public:
  NotificationServiceImpl(const rpc::Guard* guard, core::EventHub* hub, Engines engines)
      : guard_(guard), hub_(hub), e_(engines) {
    // Many watches over one stream, served raw (server/rpc/multi_watch.h).
    MarkMethodRawCallback(rpc::WatchManyIndex(v1::NotificationService::service_full_name()),
                          rpc::WatchManyHandler<v1::NotificationWatchManyResponse>(guard_, hub_, "notification"));
  }

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;
  using RawWatch = grpc::ServerWriteReactor<grpc::ByteBuffer>;

  Unary* RecordManagedAppNotification(Ctx* ctx, const v1::RecordManagedAppNotificationRequest* req,
                                      v1::RecordManagedAppNotificationResponse* resp) override;
  Unary* GetApplication(Ctx* ctx, const v1::GetApplicationRequest* req, v1::Application* resp) override;
  Unary* ListApplications(Ctx* ctx, const v1::ListApplicationsRequest* req,
                          v1::ListApplicationsResponse* resp) override;

  Unary* Publish(Ctx* ctx, const v1::PublishRequest* req, v1::PublishResponse* resp) override;
  Unary* GetBusEvent(Ctx* ctx, const v1::GetBusEventRequest* req, v1::BusEvent* resp) override;
  Unary* ListBusEvents(Ctx* ctx, const v1::ListBusEventsRequest* req, v1::ListBusEventsResponse* resp) override;

  Unary* CreateSubscription(Ctx* ctx, const v1::CreateSubscriptionRequest* req, v1::Subscription* resp) override;
  Unary* GetSubscription(Ctx* ctx, const v1::GetSubscriptionRequest* req, v1::Subscription* resp) override;
  Unary* ListSubscriptions(Ctx* ctx, const v1::ListSubscriptionsRequest* req,
                           v1::ListSubscriptionsResponse* resp) override;
  Unary* DeleteSubscription(Ctx* ctx, const v1::DeleteSubscriptionRequest* req, v1::Subscription* resp) override;
  grpc::ServerWriteReactor<v1::Delivery>* Subscribe(Ctx* ctx, const v1::SubscribeRequest* req) override;
  Unary* Ack(Ctx* ctx, const v1::AckRequest* req, v1::AckResponse* resp) override;
  Unary* Nack(Ctx* ctx, const v1::NackRequest* req, v1::NackResponse* resp) override;
  Unary* ListDeadLetters(Ctx* ctx, const v1::ListDeadLettersRequest* req, v1::ListDeadLettersResponse* resp) override;
  Unary* GetDeadLetter(Ctx* ctx, const v1::GetDeadLetterRequest* req, v1::DeadLetter* resp) override;
  Unary* ReplayDeadLetter(Ctx* ctx, const v1::ReplayDeadLetterRequest* req, v1::DeadLetter* resp) override;
  Unary* PurgeDeadLetters(Ctx* ctx, const v1::PurgeDeadLettersRequest* req,
                          v1::PurgeDeadLettersResponse* resp) override;

  Unary* CreateWebhookSubscription(Ctx* ctx, const v1::CreateWebhookSubscriptionRequest* req,
                                   v1::WebhookSubscription* resp) override;
  Unary* GetWebhookSubscription(Ctx* ctx, const v1::GetWebhookSubscriptionRequest* req,
                                v1::WebhookSubscription* resp) override;
  Unary* ListWebhookSubscriptions(Ctx* ctx, const v1::ListWebhookSubscriptionsRequest* req,
                                  v1::ListWebhookSubscriptionsResponse* resp) override;
  Unary* DeleteWebhookSubscription(Ctx* ctx, const v1::DeleteWebhookSubscriptionRequest* req,
                                   v1::WebhookSubscription* resp) override;
  Unary* ListDeliveries(Ctx* ctx, const v1::ListDeliveriesRequest* req, v1::ListDeliveriesResponse* resp) override;

  RawWatch* WatchEvents(Ctx* ctx, const grpc::ByteBuffer* req) override;
  RawWatch* WatchApplications(Ctx* ctx, const grpc::ByteBuffer* req) override;
  RawWatch* WatchDeliveries(Ctx* ctx, const grpc::ByteBuffer* req) override;

 private:
  const rpc::Guard* guard_;
  core::EventHub* hub_;
  Engines e_;
};

}  // namespace switchboard::notification
