#include "gateway/gateway.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "clients/lib/client.h"
#include "clients/lib/server_address.h"
#include "common/http/server.h"
#include "common/log.h"
#include "gateway/adapters/rabbitmq/inbound.h"
#include "gateway/adapters/rabbitmq/outbound.h"
#include "gateway/adapters/storage_queue/adapter.h"
#include "gateway/endpoints/health.h"
#include "gateway/endpoints/managed_app.h"
#include "gateway/eventgrid/endpoint.h"
#include "gateway/eventgrid/media_binding.h"
#include "gateway/eventgrid/publisher.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "gateway/http/metrics.h"

namespace switchboard::gateway {

struct Gateway::Impl {
  GatewayConfig config;
  std::unique_ptr<client::Connection> conn;
  Metrics metrics;
  std::unique_ptr<HealthEndpoint> health;
  std::unique_ptr<ManagedAppEndpoint> managed_app;
  eventgrid::HandlerRegistry eventgrid_handlers;
  std::unique_ptr<eventgrid::TopicClient> topic;
  std::unique_ptr<eventgrid::Endpoint> eventgrid;
  eventgrid::MediaBinding media;
  std::unique_ptr<eventgrid::Publisher> publisher;
  std::unique_ptr<rabbitmq::Inbound> rabbit_in;
  std::unique_ptr<rabbitmq::Outbound> rabbit_out;
  std::unique_ptr<httpserver::HttpServer> http;
  std::unique_ptr<storage_queue::StorageQueueAdapter> storage_queue;

  void Route(httpserver::Request req, httpserver::Responder respond);
  // On the HTTP I/O thread: health and metrics, and shedding while
  // switchboardd is unreachable. True when it took the request.
  bool Front(const httpserver::Request& req, const httpserver::Responder& respond);
  // POSTs that need switchboardd (the endpoint is enabled).
  bool NeedsServer(const httpserver::Request& req) const;
};

bool Gateway::Impl::NeedsServer(const httpserver::Request& req) const {
  if (req.method != "POST") return false;
  if (req.path == "/api/eventgrid") return !config.eventgrid_key.empty();
  if (req.path == "/resource") return !config.managedapp_sig.empty();
  return false;
}

bool Gateway::Impl::Front(const httpserver::Request& req, const httpserver::Responder& respond) {
  auto start = std::chrono::steady_clock::now();
  auto record = [this, start](const std::string& route, int status) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics.RecordRequest(route, status, seconds);
  };
  if (req.path == "/healthz") {
    if (req.method != "GET") {
      record("healthz", 405);
      respond(httpserver::Response::Text(405, "use GET /healthz"));
      return true;
    }
    health->CheckAsync([record, respond](httpserver::Response r) {
      record("healthz", r.status);
      respond(std::move(r));
    });
    return true;
  }
  if (req.path == "/metrics") {
    if (req.method != "GET") {
      record("metrics", 405);
      respond(httpserver::Response::Text(405, "use GET /metrics"));
      return true;
    }
    httpserver::Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics.Render();
    record("metrics", 200);
    respond(std::move(r));
    return true;
  }
  // While the channel to switchboardd is failing, every call would fail:
  // answer at once instead of holding a handler thread.
  if (NeedsServer(req) && conn->channel()->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE) {
    record(req.path == "/resource" ? "resource" : "eventgrid", 503);
    metrics.RecordError("shed_unreachable");
    httpserver::Response r = httpserver::Response::Text(503, "switchboardd unreachable (its connection is failing); retry later");
    r.headers.emplace_back("Retry-After", "1");
    respond(std::move(r));
    return true;
  }
  return false;
}

void Gateway::Impl::Route(httpserver::Request req, httpserver::Responder respond) {
  auto start = std::chrono::steady_clock::now();
  std::string route;
  auto done = [this, &route, start, respond](httpserver::Response resp) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics.RecordRequest(route, resp.status, seconds);
    respond(std::move(resp));
  };
  if (req.path == "/api/eventgrid") {
    route = "eventgrid";
    return done(eventgrid->Handle(req));
  }
  if (req.path == "/resource") {
    route = "resource";
    return done(managed_app->Handle(req));
  }
  route = "other";
  done(httpserver::Response::Text(404, absl::StrCat("not found: ", req.path,
                                              "; try POST /api/eventgrid, POST /resource, GET /healthz, GET /metrics")));
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gateway::~Gateway() { Stop(); }

const std::string& Gateway::http_address() const { return impl_->http->address(); }

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(const GatewayConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  client::ClientOptions copts;
  // "host" alone means port 50051, as for sbctl (gRPC itself would dial 443).
  auto target = client::NormalizeServerAddress(config.server);
  if (!target.ok()) return target.status();
  copts.server = *target;
  copts.token = config.token;
  copts.tls_ca_file = config.tls_ca;
  copts.timeout = absl::Seconds(config.timeout_seconds);
  if (auto s = client::ValidateToken(copts.token); !s.ok()) return s;
  auto conn = client::Connection::Open(copts);
  if (!conn.ok()) return conn.status();
  impl->conn = std::move(*conn);
  impl->health = std::make_unique<HealthEndpoint>(impl->conn.get());
  impl->managed_app =
      std::make_unique<ManagedAppEndpoint>(impl->conn.get(), config.managedapp_sig, &impl->metrics);
  if (!config.eventgrid_topic_url.empty()) {
    eventgrid::TopicOptions topts;
    topts.url = config.eventgrid_topic_url;
    topts.key = config.eventgrid_topic_key;
    topts.ca_file = config.eventgrid_topic_ca_file;
    topts.limits.max_events = static_cast<size_t>(config.eventgrid_batch_max_events);
    topts.limits.max_bytes = static_cast<size_t>(config.eventgrid_batch_max_bytes);
    impl->topic = std::make_unique<eventgrid::TopicClient>(topts);
  }
  eventgrid::BindMedia(impl->conn.get(), &impl->eventgrid_handlers, &impl->media);
  impl->eventgrid = std::make_unique<eventgrid::Endpoint>(config.eventgrid_key, &impl->eventgrid_handlers,
                                                          impl->topic.get(), &impl->metrics);

  httpserver::ServerOptions hopts;
  hopts.address = config.http_address;
  hopts.tls_cert_file = config.http_tls_cert_file;
  hopts.tls_key_file = config.http_tls_key_file;
  hopts.body_limit = static_cast<size_t>(config.http_body_limit);
  hopts.io_threads = static_cast<int>(config.http_io_threads);
  hopts.worker_threads = static_cast<int>(config.http_worker_threads);
  hopts.queue_limit = static_cast<size_t>(config.http_queue_limit);
  hopts.queue_timeout = std::chrono::milliseconds(config.http_queue_timeout_ms);
  hopts.server_name = "switchboard-gateway";
  Impl* raw = impl.get();
  hopts.front = [raw](const httpserver::Request& req, const httpserver::Responder& respond) { return raw->Front(req, respond); };
  hopts.on_shed = [raw](const httpserver::Request& req, const std::string& why) {
    std::string route = req.path == "/api/eventgrid" ? "eventgrid" : req.path == "/resource" ? "resource" : "other";
    raw->metrics.RecordRequest(route, 503, 0);
    raw->metrics.RecordError(absl::StrCat("shed_", why));
  };
  if (!config.eventgrid_key.empty() && config.timeout_seconds >= 30) {
    log::Warn("timeout_seconds is not under Event Grid's 30 s webhook timeout; Event Grid may give up first",
              {{"timeout_seconds", config.timeout_seconds}});
  }
  auto server = httpserver::HttpServer::Start(hopts, [raw](httpserver::Request req, httpserver::Responder respond) {
    raw->Route(std::move(req), std::move(respond));
  });
  if (!server.ok()) return server.status();
  impl->http = std::move(*server);
  if (impl->topic && impl->media.encode) {
    eventgrid::PublisherOptions popts;
    popts.cursor = absl::StrCat("cursors/", config.eventgrid_cursor);
    popts.max_events = static_cast<int>(config.eventgrid_batch_max_events);
    popts.max_bytes = static_cast<size_t>(config.eventgrid_batch_max_bytes);
    popts.lease_ttl = std::chrono::seconds(config.eventgrid_cursor_lease_seconds);
    const client::Connection* conn = impl->conn.get();
    auto encode = impl->media.encode;
    impl->publisher = std::make_unique<eventgrid::Publisher>(
        conn,
        [conn, encode]() -> std::unique_ptr<eventgrid::LogSource> {
          // Every media event, many to a message (WatchEventBatches).
          return std::make_unique<eventgrid::WatchSource<v1::MediaEvent, v1::MediaEventBatch>>(
              conn,
              [conn](grpc::ClientContext* ctx, int64_t after) {
                v1::WatchEventsRequest req;
                req.set_after_sequence(after);
                return v1::MediaService::NewStub(conn->channel())->WatchEventBatches(ctx, req);
              },
              encode);
        },
        impl->topic.get(), popts, &impl->metrics);
    impl->publisher->Start();
  } else if (impl->topic) {
    log::Warn("eventgrid_topic_url is set but this build has no media response encoder; not publishing");
  }
  impl->metrics.AddGauge("switchboard_gateway_http_queued_requests",
                         "HTTP requests waiting for a handler thread (http_queue_limit at most).",
                         [raw] { return raw->http ? static_cast<double>(raw->http->queued()) : 0.0; });
  impl->metrics.AddGauge("switchboard_gateway_eventgrid_outbound_queue_depth",
                         "Log events read by the Event Grid publisher and not yet published.",
                         [raw] { return raw->publisher ? static_cast<double>(raw->publisher->queue_depth()) : 0.0; });
  impl->metrics.AddGauge("switchboard_gateway_eventgrid_cursor_lease_held",
                         "1 while this gateway holds the Event Grid cursor's lease and publishes; 0 while it "
                         "stands by (or publishes without a lease).",
                         [raw] { return raw->publisher && raw->publisher->lease_held() ? 1.0 : 0.0; });
  impl->metrics.AddGauge("switchboard_gateway_eventgrid_cursor_sequence",
                         "Log sequence last committed by the Event Grid publisher.",
                         [raw] { return raw->publisher ? static_cast<double>(raw->publisher->committed()) : 0.0; });
  if (!config.amqp_url.empty() && !config.amqp_consume.empty()) {
    auto apps = rabbitmq::ParseConsumeSpec(config.amqp_consume);
    if (!apps.ok()) return apps.status();
    rabbitmq::InboundOptions ropts;
    ropts.url = config.amqp_url;
    ropts.tls = {config.amqp_ca_file, config.amqp_cert_file, config.amqp_key_file};
    ropts.exchange = config.amqp_exchange;
    ropts.apps = std::move(*apps);
    ropts.deferred_ttl_ms = config.amqp_deferred_ttl_ms;
    impl->rabbit_in = std::make_unique<rabbitmq::Inbound>(impl->conn.get(), ropts, &impl->metrics);
    impl->rabbit_in->Start();
  }
  if (!config.amqp_url.empty() && !config.amqp_bridge.empty()) {
    auto bridges = rabbitmq::ParseConsumeSpec(config.amqp_bridge, "amqp_bridge");
    if (!bridges.ok()) return bridges.status();
    rabbitmq::OutboundOptions oopts;
    oopts.url = config.amqp_url;
    oopts.tls = {config.amqp_ca_file, config.amqp_cert_file, config.amqp_key_file};
    oopts.exchange = config.amqp_exchange;
    for (auto& b : *bridges) oopts.bridges.push_back({std::move(b.app_id), std::move(b.bindings)});
    impl->rabbit_out = std::make_unique<rabbitmq::Outbound>(impl->conn.get(), oopts, &impl->metrics);
    impl->rabbit_out->Start();
  }
  if (!config.azure_queue_endpoint.empty()) {
    storage_queue::Hooks hooks;
    hooks.count = [raw](const std::string& n, const std::string& h, uint64_t k) { raw->metrics.Count(n, h, k); };
    hooks.error = [raw](const std::string& kind) { raw->metrics.RecordError(kind); };
    auto sq = storage_queue::StorageQueueAdapter::Start(config, impl->conn.get(), hooks);
    if (!sq.ok()) return sq.status();
    impl->storage_queue = std::move(*sq);
  }
  // Registered once storage_queue is set: /metrics is already being served.
  impl->metrics.AddGauge(
      "switchboard_gateway_status_queue_cursor_lease_held",
      "1 while this gateway holds the status queue cursor's lease and emits status messages; 0 while it stands by "
      "(or emits without a lease, or has no storage queue adapter).",
      [raw] { return raw->storage_queue && raw->storage_queue->emitter().lease_held() ? 1.0 : 0.0; });
  log::Info("serving", {{"http_address", impl->http->address()},
                        {"scheme", config.http_tls_cert_file.empty() ? "http" : "https"},
                        {"server", copts.server}});
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

void Gateway::Stop() {
  if (impl_->http) impl_->http->Stop();
  if (impl_->health) impl_->health->Wait();
  if (impl_->publisher) impl_->publisher->Stop();
  if (impl_->rabbit_in) impl_->rabbit_in->Stop();
  if (impl_->rabbit_out) impl_->rabbit_out->Stop();
  if (impl_->storage_queue) impl_->storage_queue->Stop();
}

}  // namespace switchboard::gateway
