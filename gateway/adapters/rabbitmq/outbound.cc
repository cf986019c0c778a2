#include "gateway/adapters/rabbitmq/outbound.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "wire/gorg_envelope.h"
#include "gateway/endpoints/status_map.h"

namespace switchboard::gateway::rabbitmq {
namespace {
constexpr char kSubscriptionsPrefix[] = "subscriptions/";
}

OutMessage ToAmqp(const std::string& exchange, const v1::Delivery& delivery) {
  const v1::BusEnvelope& e = delivery.envelope();
  OutMessage m;
  m.exchange = exchange;
  m.routing_key = e.event_name();
  m.body = wire::GorgEnvelopeToJson(e);
  m.app_id = e.event_sender_id();
  m.message_id = e.event_uuid();
  m.int_headers["softfail-count"] = delivery.softfail_count();
  return m;
}

Outbound::Outbound(const client::Connection* conn, OutboundOptions options, Metrics* metrics)
    : conn_(conn),
      options_(std::move(options)),
      metrics_(metrics),
      stub_(v1::NotificationService::NewStub(conn->channel())) {}

Outbound::~Outbound() { Stop(); }

void Outbound::Start() {
  for (const Bridge& b : options_.bridges) {
    auto w = std::make_unique<Worker>();
    w->bridge = b;
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    raw->thread = NamedThread("amqp-outbound", [this, raw] { Run(raw); });
  }
}

void Outbound::Stop() {
  if (stop_.exchange(true)) return;
  cv_.notify_all();
  for (auto& w : workers_) {
    std::lock_guard<std::mutex> lock(w->ctx_mu);
    if (w->ctx) w->ctx->TryCancel();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
    w->amqp.Close();
  }
}

void Outbound::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

absl::Status Outbound::EnsureSubscription(const Bridge& b) {
  v1::CreateSubscriptionRequest req;
  req.set_request_id(absl::StrCat("gateway-amqp-bridge-", b.queue));
  req.mutable_subscription()->set_queue(b.queue);
  for (const auto& binding : b.bindings) req.mutable_subscription()->add_bindings(binding);
  auto ctx = conn_->NewUnaryContext();
  v1::Subscription sub;
  grpc::Status s = stub_->CreateSubscription(ctx.get(), req, &sub);
  if (s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

bool Outbound::Forward(Worker* w, const v1::Delivery& d) {
  OutMessage m = ToAmqp(options_.exchange, d);
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    absl::Status s;
    if (!w->amqp.connected()) {
      s = w->amqp.Connect(options_.url, options_.tls);
      if (s.ok()) s = w->amqp.EnableConfirms();
      if (s.ok()) s = DeclareExchange(w->amqp, options_.exchange);
    }
    if (s.ok()) s = w->amqp.Publish(m);
    if (s.ok()) return true;
    w->amqp.Close();
    metrics_->RecordError("rabbitmq_bridge_publish");
    log::Warn("rabbitmq bridge: publish not confirmed; reconnecting",
              {{"subscription", d.subscription()},
               {"event_uuid", m.message_id},
               {"error", std::string(s.message())},
               {"backoff_ms", backoff.count()}});
    Sleep(backoff);
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
  return false;
}

void Outbound::AckDelivery(const v1::Delivery& d) {
  v1::AckRequest req;
  req.set_subscription(d.subscription());
  req.set_delivery_id(d.delivery_id());
  auto backoff = std::chrono::milliseconds(100);
  for (int attempt = 0; attempt < 5 && !stop_; ++attempt) {
    auto ctx = conn_->NewUnaryContext();
    v1::AckResponse resp;
    grpc::Status s = stub_->Ack(ctx.get(), req, &resp);
    if (s.ok()) return;
    if (!IsRetryable(s)) {
      // The delivery expired and was handed out again: the redelivery will
      // publish a duplicate with the same message_id.
      log::Warn("rabbitmq bridge: ack refused", {{"delivery_id", d.delivery_id()}, {"error", s.error_message()}});
      return;
    }
    Sleep(backoff);
    backoff *= 2;
  }
  log::Warn("rabbitmq bridge: ack not delivered; the server will redeliver",
            {{"delivery_id", d.delivery_id()}});
}

void Outbound::Run(Worker* w) {
  const std::string name = absl::StrCat(kSubscriptionsPrefix, w->bridge.queue);
  auto backoff = std::chrono::milliseconds(100);
  bool ensured = false;
  while (!stop_) {
    if (!ensured) {
      absl::Status s = EnsureSubscription(w->bridge);
      if (!s.ok()) {
        metrics_->RecordError("rabbitmq_bridge_subscription");
        log::Warn("rabbitmq bridge: cannot create the bus subscription",
                  {{"subscription", name}, {"error", std::string(s.message())}});
        Sleep(backoff);
        backoff = std::min(options_.max_backoff, backoff * 2);
        continue;
      }
      ensured = true;
    }
    auto ctx = conn_->NewStreamContext();
    {
      std::lock_guard<std::mutex> lock(w->ctx_mu);
      if (stop_) break;
      w->ctx = ctx.get();
    }
    v1::SubscribeRequest req;
    req.set_subscription(name);
    req.set_max_in_flight(options_.max_in_flight);
    auto reader = stub_->Subscribe(ctx.get(), req);
    v1::Delivery d;
    bool got_any = false;
    while (!stop_ && reader->Read(&d)) {
      got_any = true;
      if (!Forward(w, d)) break;  // stopping: the delivery stays unacked
      AckDelivery(d);
      forwarded_.fetch_add(1);
      metrics_->Count("rabbitmq_forwarded", "Bus deliveries published to RabbitMQ, confirmed and acked.");
    }
    grpc::Status s = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(w->ctx_mu);
      w->ctx = nullptr;
    }
    if (stop_) break;
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) ensured = false;
    if (got_any) backoff = std::chrono::milliseconds(100);
    metrics_->RecordError("rabbitmq_bridge_stream");
    log::Warn("rabbitmq bridge: Subscribe stream ended; reopening",
              {{"subscription", name}, {"error", s.error_message()}, {"backoff_ms", backoff.count()}});
    Sleep(backoff);
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
}

}  // namespace switchboard::gateway::rabbitmq
