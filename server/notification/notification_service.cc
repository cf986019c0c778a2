#include "server/notification/notification_service.h"

#include "server/notification/subscribe_stream.h"
#include "server/rpc/watch_stream.h"

namespace switchboard::notification {

namespace {
constexpr char kService[] = "notification";
}  // namespace

using rpc::AsyncCall;
using rpc::SyncCall;
using Impl = NotificationServiceImpl;

// --- Managed applications ---

Impl::Unary* Impl::RecordManagedAppNotification(Ctx* ctx, const v1::RecordManagedAppNotificationRequest* req,
                                                 v1::RecordManagedAppNotificationResponse* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.apps->Record(*req, std::move(done)); });
}

Impl::Unary* Impl::GetApplication(Ctx* ctx, const v1::GetApplicationRequest* req, v1::Application* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal&) { return e_.apps->Get(req->name()); });
}

Impl::Unary* Impl::ListApplications(Ctx* ctx, const v1::ListApplicationsRequest* req,
                                    v1::ListApplicationsResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal&) { return e_.apps->List(*req); });
}

// --- Bus ---

Impl::Unary* Impl::Publish(Ctx* ctx, const v1::PublishRequest* req, v1::PublishResponse* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal& p, auto done) { e_.bus->Publish(p, *req, std::move(done)); });
}

Impl::Unary* Impl::GetBusEvent(Ctx* ctx, const v1::GetBusEventRequest* req, v1::BusEvent* resp) {
  return SyncCall(ctx, *guard_, *req, resp,
                  [&](const Principal&) { return e_.bus->GetBusEvent(req->name()); });
}

Impl::Unary* Impl::ListBusEvents(Ctx* ctx, const v1::ListBusEventsRequest* req, v1::ListBusEventsResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp,
                  [&](const Principal&) { return e_.bus->ListBusEvents(*req); });
}

Impl::Unary* Impl::CreateSubscription(Ctx* ctx, const v1::CreateSubscriptionRequest* req, v1::Subscription* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.queues->CreateSubscription(*req, std::move(done)); });
}

Impl::Unary* Impl::GetSubscription(Ctx* ctx, const v1::GetSubscriptionRequest* req, v1::Subscription* resp) {
  return SyncCall(ctx, *guard_, *req, resp,
                  [&](const Principal&) { return e_.queues->GetSubscription(req->name()); });
}

Impl::Unary* Impl::ListSubscriptions(Ctx* ctx, const v1::ListSubscriptionsRequest* req,
                                     v1::ListSubscriptionsResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp,
                  [&](const Principal&) { return e_.queues->ListSubscriptions(*req); });
}

Impl::Unary* Impl::DeleteSubscription(Ctx* ctx, const v1::DeleteSubscriptionRequest* req, v1::Subscription* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.queues->DeleteSubscription(*req, std::move(done)); });
}

grpc::ServerWriteReactor<v1::Delivery>* Impl::Subscribe(Ctx* ctx, const v1::SubscribeRequest* req) {
  return SubscribeStream::Start(e_.queues, *req, guard_->Admit(ctx, *req).status());
}

Impl::Unary* Impl::Ack(Ctx* ctx, const v1::AckRequest* req, v1::AckResponse* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.queues->Ack(*req, std::move(done)); });
}

Impl::Unary* Impl::Nack(Ctx* ctx, const v1::NackRequest* req, v1::NackResponse* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.queues->Nack(*req, std::move(done)); });
}

Impl::Unary* Impl::ListDeadLetters(Ctx* ctx, const v1::ListDeadLettersRequest* req,
                                   v1::ListDeadLettersResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp,
                  [&](const Principal&) { return e_.queues->ListDeadLetters(*req); });
}

Impl::Unary* Impl::GetDeadLetter(Ctx* ctx, const v1::GetDeadLetterRequest* req, v1::DeadLetter* resp) {
  return SyncCall(ctx, *guard_, *req, resp,
                  [&](const Principal&) { return e_.queues->GetDeadLetter(req->name()); });
}

Impl::Unary* Impl::ReplayDeadLetter(Ctx* ctx, const v1::ReplayDeadLetterRequest* req, v1::DeadLetter* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.queues->ReplayDeadLetter(*req, std::move(done)); });
}

Impl::Unary* Impl::PurgeDeadLetters(Ctx* ctx, const v1::PurgeDeadLettersRequest* req,
                                    v1::PurgeDeadLettersResponse* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.queues->PurgeDeadLetters(*req, std::move(done)); });
}

// --- Webhooks ---

Impl::Unary* Impl::CreateWebhookSubscription(Ctx* ctx, const v1::CreateWebhookSubscriptionRequest* req,
                                             v1::WebhookSubscription* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.webhooks->Create(*req, std::move(done)); });
}

Impl::Unary* Impl::GetWebhookSubscription(Ctx* ctx, const v1::GetWebhookSubscriptionRequest* req,
                                          v1::WebhookSubscription* resp) {
  return SyncCall(ctx, *guard_, *req, resp,
                  [&](const Principal&) { return e_.webhooks->Get(req->name()); });
}

Impl::Unary* Impl::ListWebhookSubscriptions(Ctx* ctx, const v1::ListWebhookSubscriptionsRequest* req,
                                            v1::ListWebhookSubscriptionsResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp, [&](const Principal&) { return e_.webhooks->List(*req); });
}

Impl::Unary* Impl::DeleteWebhookSubscription(Ctx* ctx, const v1::DeleteWebhookSubscriptionRequest* req,
                                             v1::WebhookSubscription* resp) {
  return AsyncCall(ctx, *guard_, *req, resp,
                   [&](const Principal&, auto done) { e_.webhooks->Delete(*req, std::move(done)); });
}

Impl::Unary* Impl::ListDeliveries(Ctx* ctx, const v1::ListDeliveriesRequest* req, v1::ListDeliveriesResponse* resp) {
  return SyncCall(ctx, *guard_, *req, resp,
                  [&](const Principal&) { return e_.webhooks->ListDeliveries(*req); });
}

// --- Watches ---

Impl::RawWatch* Impl::WatchEvents(Ctx* ctx, const grpc::ByteBuffer* raw) {
  return rpc::StartWatch<v1::WatchEventsRequest>(ctx, *guard_, hub_, kService, raw,
                                                 [](const auto&, core::WatchFilter*) { return absl::OkStatus(); });
}

Impl::RawWatch* Impl::WatchApplications(Ctx* ctx, const grpc::ByteBuffer* raw) {
  return rpc::StartWatchAfterLookup<v1::WatchApplicationsRequest>(
      ctx, *guard_, hub_, kService, raw,
      [](const auto&, core::WatchFilter* f) {
        f->kinds = {kApplicationKind};
        return absl::OkStatus();
      },
      // On a hub thread: only what exists now (docs/api.md); the stored
      // name (normalized) is the one its events carry.
      [this](const v1::WatchApplicationsRequest& req, core::WatchFilter* f) -> absl::Status {
        if (req.name().empty()) return absl::OkStatus();
        ASSIGN_OR_RETURN(auto app, e_.apps->Get(req.name()));
        f->resource = app.name();
        return absl::OkStatus();
      });
}

Impl::RawWatch* Impl::WatchDeliveries(Ctx* ctx, const grpc::ByteBuffer* raw) {
  return rpc::StartWatchAfterLookup<v1::WatchDeliveriesRequest>(
      ctx, *guard_, hub_, kService, raw,
      [](const auto&, core::WatchFilter* f) {
        f->kinds = {kDeliveryKind};
        return absl::OkStatus();
      },
      // On a hub thread: only a webhook that exists now (docs/api.md).
      [this](const v1::WatchDeliveriesRequest& req, core::WatchFilter* f) -> absl::Status {
        if (req.webhook().empty()) return absl::OkStatus();
        ASSIGN_OR_RETURN(auto hook, e_.webhooks->Get(req.webhook()));
        f->resource = hook.name();
        return absl::OkStatus();
      });
}

}  // namespace switchboard::notification
