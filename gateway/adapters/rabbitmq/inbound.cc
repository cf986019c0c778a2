#include "gateway/adapters/rabbitmq/inbound.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/thread_name.h"
#include "wire/gorg_envelope.h"
#include "gateway/endpoints/status_map.h"

namespace switchboard::gateway::rabbitmq {

Inbound::Inbound(const client::Connection* conn, InboundOptions options, Metrics* metrics)
    : conn_(conn),
      options_(std::move(options)),
      metrics_(metrics),
      stub_(v1::NotificationService::NewStub(conn->channel())) {}

Inbound::~Inbound() { Stop(); }

void Inbound::Start() {
  thread_ = NamedThread("amqp-inbound", [this] { Loop(); });
}

void Inbound::Stop() {
  if (stop_.exchange(true)) return;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Inbound::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

void Inbound::Loop() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    absl::Status s = Session();
    consuming_ = false;
    consumer_.Close();
    publisher_.Close();
    if (stop_) break;
    metrics_->RecordError("rabbitmq_connection");
    log::Warn("rabbitmq inbound disconnected; reconnecting",
              {{"error", std::string(s.message())}, {"backoff_ms", backoff.count()}});
    Sleep(backoff);
    backoff = std::min(options_.max_backoff, backoff * 2);
    if (s.ok()) backoff = std::chrono::milliseconds(100);
  }
}

absl::Status Inbound::Session() {
  RETURN_IF_ERROR(consumer_.Connect(options_.url, options_.tls));
  RETURN_IF_ERROR(publisher_.Connect(options_.url, options_.tls));
  RETURN_IF_ERROR(publisher_.EnableConfirms());
  RETURN_IF_ERROR(DeclareExchange(consumer_, options_.exchange));
  for (const auto& app : options_.apps) {
    RETURN_IF_ERROR(DeclareApp(consumer_, options_.exchange, app, options_.deferred_ttl_ms));
  }
  RETURN_IF_ERROR(consumer_.Qos(options_.prefetch));
  for (const auto& app : options_.apps) RETURN_IF_ERROR(consumer_.Consume(JobQueue(app.app_id), app.app_id));
  consuming_ = true;
  log::Info("rabbitmq inbound consuming", {{"exchange", options_.exchange}, {"apps", options_.apps.size()}});
  while (!stop_) {
    ASSIGN_OR_RETURN(std::optional<Message> m, consumer_.Next(std::chrono::milliseconds(200)));
    if (!m) continue;
    absl::Status s = Handle(*m);
    if (!s.ok()) return s;  // unacked: the broker redelivers it
    RETURN_IF_ERROR(consumer_.Ack(m->delivery_tag));
  }
  return absl::OkStatus();
}

absl::Status Inbound::DeadLetter(const Message& m, const std::string& reason) {
  OutMessage out;
  out.exchange = "";
  out.routing_key = DeadQueue(m.consumer_tag);
  out.body = m.body;
  out.app_id = m.app_id;
  out.message_id = m.message_id;
  out.int_headers = m.int_headers;
  out.string_headers["x-switchboard-error"] = reason.substr(0, 1000);
  out.string_headers["x-switchboard-routing-key"] = m.routing_key;
  RETURN_IF_ERROR(publisher_.Publish(out));
  metrics_->Count("rabbitmq_dead_lettered", "RabbitMQ messages moved to <app_id>_dead_q.");
  log::Warn("rabbitmq message dead-lettered",
            {{"queue", DeadQueue(m.consumer_tag)}, {"message_id", m.message_id}, {"reason", reason}});
  return absl::OkStatus();
}

absl::Status Inbound::Handle(const Message& m) {
  auto envelope = wire::GorgEnvelopeFromJson(m.body);
  if (!envelope.ok()) return DeadLetter(m, absl::StrCat("harderror: ", envelope.status().message()));
  v1::PublishRequest req;
  req.set_request_id(envelope->event_uuid());
  *req.mutable_envelope() = std::move(*envelope);
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    auto ctx = conn_->NewUnaryContext();
    v1::PublishResponse resp;
    grpc::Status s = stub_->Publish(ctx.get(), req, &resp);
    if (s.ok()) {
      metrics_->Count("rabbitmq_consumed", "RabbitMQ messages published on the bus and acked.");
      return absl::OkStatus();
    }
    if (!IsRetryable(s)) {
      return DeadLetter(m, absl::StrCat("harderror: ", CodeName(static_cast<absl::StatusCode>(s.error_code())), ": ",
                                        s.error_message()));
    }
    metrics_->RecordError("rabbitmq_server_unavailable");
    log::Warn("server unavailable; keeping the RabbitMQ message unacked",
              {{"event_uuid", req.envelope().event_uuid()}, {"error", s.error_message()}});
    Sleep(backoff);
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
  return absl::CancelledError("stopping; the message goes back to its queue");
}

}  // namespace switchboard::gateway::rabbitmq
