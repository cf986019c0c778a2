#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/status.h"
#include "server/core/data_dir_lock.h"
#include "server/core/event_hub.h"
#include "server/core/executor.h"
#include "server/core/job.h"
#include "server/core/job_pruner.h"
#include "server/core/leadership.h"
#include "server/cursors/cursor_service.h"
#include "server/core/store.h"
#include "server/core/store_open.h"
#include "server/replicated_config.h"
#include "server/http/admin_http.h"
#include "server/http/blob_http.h"
#include "server/media/media_service.h"
#include "server/notification/bus_engine.h"
#include "server/notification/status_bridge_keeper.h"
#include "server/notification/notification_service.h"
#include "server/resourcing/engine.h"
#include "server/resourcing/resourcing_service.h"
#include "server/rpc/guard.h"
#include "server/rpc/health_service.h"
#include "server/rpc/interceptors.h"
#include "server/rpc/metrics.h"

namespace switchboard {

struct Server::Impl {
  // First, so that it is released last.
  std::unique_ptr<core::DataDirLock> data_dir_lock;
  core::ServerConfig config;
  std::string grpc_address;
  std::unique_ptr<TokenAuthenticator> auth;
  std::unique_ptr<core::Store> store;
  std::unique_ptr<core::JobPruner> job_pruner;  // deletes finished jobs past job_retention_seconds
  std::unique_ptr<core::EventHub> hub;
  // The pools every engine posts to; stopped in Shutdown after the engines
  // (which wait for their own work) and before the store.
  std::unique_ptr<core::Executor> executor;
  // Which replica leads (always this one on SQLite): its pruner is the one
  // that deletes finished jobs.
  std::unique_ptr<core::Leadership> leadership;
  std::unique_ptr<rpc::Guard> guard;
  rpc::Metrics metrics;
  std::unique_ptr<notification::BusEngine> bus;
  std::unique_ptr<notification::QueueEngine> queues;
  std::unique_ptr<notification::WebhookEngine> webhooks;
  std::unique_ptr<notification::StatusBridgeKeeper> bridge;
  std::unique_ptr<notification::ManagedAppEngine> apps;
  std::unique_ptr<resourcing::ResourcingEngine> resourcing_engine;
  std::unique_ptr<resourcing::ResourcingServiceImpl> resourcing;
  std::unique_ptr<media::MediaEngine> media_engine;
  std::unique_ptr<media::MediaServiceImpl> media;
  std::unique_ptr<notification::NotificationServiceImpl> notification;
  std::unique_ptr<rpc::HealthService> health;
  std::unique_ptr<cursors::CursorEngine> cursor_engine;
  std::unique_ptr<cursors::CursorServiceImpl> cursors;
  std::unique_ptr<grpc::Server> grpc_server;
  // The blob endpoint outlives the listener that serves it.
  std::unique_ptr<http::BlobHttp> blob_http;
  std::unique_ptr<http::AdminHttpServer> http;
  bool shut_down = false;

  // A start that failed half-way has no Shutdown: the engines stop before the
  // pools they post to, and those before the store.
  ~Impl() {
    if (bridge) bridge->Stop();        // its steps run on the core pool
    if (webhooks) webhooks->Close();   // its tasks on the webhooks pool
    if (job_pruner) job_pruner->Stop();  // it asks `leadership`
    if (leadership) leadership->Stop();
    if (resourcing_engine) resourcing_engine->Stop();
    if (media_engine) media_engine->Shutdown();  // cancels its encodes first
    if (executor) executor->Stop();
  }
};

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The local blob store served on the admin listener (server/http/blob_http.h);
// none without a local store.
const http::BlobHttp* BlobEndpoint(Server::Impl* impl) {
  if (!impl->media_engine->local_store()) return nullptr;
  http::BlobHttpOptions o;
  o.store = impl->media_engine->local_store();
  o.on_upload = [engine = impl->media_engine.get()](const std::string& url, const blob::BlobProperties& props,
                                                    const std::string& crid) {
    if (auto s = engine->RecordUpload(url, props, crid); !s.ok()) {
      log::Error("upload event not recorded", {{"blob", url}, {"error", s.ToString()}});
    }
  };
  impl->blob_http = std::make_unique<http::BlobHttp>(std::move(o));
  return impl->blob_http.get();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const core::ServerConfig& c) {
  if (c.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions opts;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(c.tls_cert_file, "tls_cert_file"));
  ASSIGN_OR_RETURN(pair.private_key, ReadFile(c.tls_key_file, "tls_key_file"));
  opts.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(opts);
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(); }

const std::string& Server::grpc_address() const { return impl_->grpc_address; }
const std::string& Server::http_address() const { return impl_->http->address(); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const core::ServerConfig& config) {
  RETURN_IF_ERROR(core::ValidateConfig(config));
  RETURN_IF_ERROR(CheckReplicatedConfig(config));
  auto impl = std::make_unique<Impl>();
  impl->config = config;

  if (config.token_file.empty()) {
    impl->auth = TokenAuthenticator::AllowLocal();
  } else {
    ASSIGN_OR_RETURN(impl->auth, TokenAuthenticator::FromFile(config.token_file));
  }
  RETURN_IF_ERROR(impl->auth->CheckListenAddress("grpc_address", config.grpc_address));
  RETURN_IF_ERROR(impl->auth->CheckListenAddress("http_address", config.http_address));
  ASSIGN_OR_RETURN(auto creds, Credentials(config));

  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create --data_dir '", config.data_dir, "': ", ec.message()));
  }
  ASSIGN_OR_RETURN(impl->data_dir_lock, core::DataDirLock::Acquire(config.data_dir));
  // This process start's id, the owner of every job lease taken here:
  // "<the data dir's instance>/<host>/<pid>/<random>" (data_dir_lock.h).
  const std::string replica_id = absl::StrCat(impl->data_dir_lock->instance(), "/", core::NewReplicaId());
  ASSIGN_OR_RETURN(impl->store, core::OpenConfiguredStore(config));
  // With a shared store, a dead replica's work goes on elsewhere once its
  // leases run out, so they are short enough for a failover within 20 s
  // (renewed at half their time; claims every quarter). Alone on SQLite, a
  // restart releases every lease at once, so they can be long.
  const bool shared_store = core::OpensPostgres(config);
  const absl::Duration job_lease = shared_store ? absl::Seconds(10) : absl::Seconds(60);
  {
    // What this data dir's dead predecessor still holds is released now, not
    // when its leases run out (data_dir_lock.h; SQLite's open did it already).
    std::promise<absl::StatusOr<int>> released;
    impl->store->jobs().ReleaseOwnedBy(absl::StrCat(impl->data_dir_lock->instance(), "/"),
                                       [&released](absl::StatusOr<int> n) { released.set_value(std::move(n)); });
    absl::StatusOr<int> n = released.get_future().get();
    if (!n.ok()) return n.status();
    if (*n > 0) log::Info("released the jobs a previous process on this data dir held", {{"jobs", *n}});
  }
  core::EventHub::Options hub_opts;
  hub_opts.max_lag = config.watch_max_lag;
  hub_opts.ring_capacity = static_cast<size_t>(config.watch_ring_capacity);
  hub_opts.wake_threads = static_cast<int>(config.watch_wake_threads);
  impl->hub = std::make_unique<core::EventHub>(impl->store.get(), hub_opts);
  impl->store->SetCommitListener([hub = impl->hub.get()](auto events) { hub->OnCommitted(std::move(events)); });

  impl->executor = std::make_unique<core::Executor>();
  for (const auto& [name, size] : config.pools) {
    RETURN_IF_ERROR(impl->executor
                        ->AddPool({name, static_cast<int>(size.threads), static_cast<int>(size.queue_limit)})
                        .status());
  }

  {
    core::Leadership::Options lo;
    lo.owner = replica_id;
    if (!shared_store) {
      // Alone on SQLite nobody competes: a heartbeat (a write) every 15 s.
      lo.lease = absl::Seconds(60);
      lo.tick = absl::Seconds(15);
    }
    impl->leadership = std::make_unique<core::Leadership>(
        &impl->store->jobs(), impl->executor->pool("core"), lo, [](bool leading, int64_t term) {
          log::Info(leading ? "leading" : "no longer leading", {{"term", term}});
        });
    impl->leadership->Start();
    core::JobPruner::Options prune_opts;
    prune_opts.retention = absl::Seconds(config.job_retention_seconds);
    prune_opts.active = [leadership = impl->leadership.get()] { return leadership->leading(); };
    impl->job_pruner =
        std::make_unique<core::JobPruner>(&impl->store->jobs(), impl->executor->pool("core"), prune_opts);
    impl->job_pruner->Start();
  }

  impl->guard = std::make_unique<rpc::Guard>(impl->auth.get(), static_cast<size_t>(config.max_message_bytes));
  impl->bus = std::make_unique<notification::BusEngine>(impl->store.get());
  notification::QueueOptions queue_opts;
  queue_opts.visibility_timeout = absl::Milliseconds(config.bus_visibility_timeout_ms);
  queue_opts.retry_delay = absl::Milliseconds(config.bus_retry_delay_ms);
  queue_opts.max_attempts = static_cast<int>(config.bus_max_attempts);
  queue_opts.replica_id = replica_id;
  impl->queues = std::make_unique<notification::QueueEngine>(impl->store.get(), impl->hub.get(),
                                                             impl->executor->pool("core"), queue_opts);
  RETURN_IF_ERROR(impl->queues->Load());
  notification::WebhookOptions hook_opts;
  hook_opts.workers = static_cast<int>(config.webhook_workers);
  hook_opts.replica_id = replica_id;
  hook_opts.job_lease = job_lease;
  if (shared_store) {
    // Owner leases as short as the jobs', renewed every 2 s; alone on SQLite
    // one process holds them all, renewed every 30 s.
    hook_opts.owner_lease = absl::Seconds(10);
    hook_opts.owner_renew_below = absl::Seconds(8);
  }
  hook_opts.per_webhook_in_flight = static_cast<int>(config.webhook_per_endpoint_in_flight);
  hook_opts.retry_base = absl::Milliseconds(config.webhook_retry_base_ms);
  hook_opts.retry_max = absl::Milliseconds(config.webhook_retry_max_ms);
  if (!config.webhook_ca_file.empty()) {
    // Read once here, so a wrong path fails the start, not every delivery.
    ASSIGN_OR_RETURN(std::string ca, ReadFile(config.webhook_ca_file, "webhook_ca_file"));
    if (ca.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("webhook_ca_file '", config.webhook_ca_file, "' holds no PEM certificate"));
    }
    hook_opts.ca_file = config.webhook_ca_file;
  }
  // The webhook engine's pool, sized from webhook_workers (the most
  // attempts at once): its keeper, its retries' wake-ups, each attempt's
  // record read and outcome. The POSTs wait on the engine's HTTP loop
  // thread, not here. Stopped with the others.
  ASSIGN_OR_RETURN(core::Pool * webhook_pool,
                   impl->executor->AddPool({"webhooks", static_cast<int>(std::min<int64_t>(config.webhook_workers, 4)),
                                            static_cast<int>(4 * config.webhook_workers + 64)}));
  // With replicas, a webhook's owner follows the log for what the others
  // publish; alone, every publish is made here and wakes the claims itself.
  impl->webhooks = std::make_unique<notification::WebhookEngine>(impl->store.get(), hook_opts, webhook_pool,
                                                                 shared_store ? impl->hub.get() : nullptr);
  RETURN_IF_ERROR(impl->webhooks->Load());
  impl->bus->AddRoute(impl->queues.get());
  impl->bus->AddRoute(impl->webhooks.get());
  impl->apps = std::make_unique<notification::ManagedAppEngine>(impl->store.get());
  if (config.bus_status_events != 0) {
    // One bridge runs, in the replica holding its cursor's lease; with a
    // shared store the others stand by (status_bridge_keeper.h), on leases
    // short enough for a failover within the 20 s.
    const bool shared = shared_store;
    notification::StatusBridge::Options bridge_opts;
    bridge_opts.owner = replica_id;
    if (shared) {
      bridge_opts.lease = absl::Seconds(10);
      bridge_opts.heartbeat = absl::Seconds(3);
    }
    Impl* self = impl.get();
    impl->bridge = std::make_unique<notification::StatusBridgeKeeper>(
        [self, bridge_opts] {
          return std::make_unique<notification::StatusBridge>(self->store.get(), self->hub.get(), self->bus.get(),
                                                              bridge_opts);
        },
        impl->executor->pool("core"), absl::Seconds(2));
    RETURN_IF_ERROR(impl->bridge->Start(/*standby=*/shared));
  }
  {
    resourcing::ResourcingOptions ropts;
    ASSIGN_OR_RETURN(ropts, resourcing::OptionsFromConfig(config));
    ropts.replica_id = replica_id;
    ropts.job_lease = job_lease;
    ASSIGN_OR_RETURN(impl->resourcing_engine, resourcing::ResourcingEngine::Start(impl->store.get(), impl->executor.get(),
                                                                                     std::move(ropts)));
  }
  impl->resourcing = std::make_unique<resourcing::ResourcingServiceImpl>(impl->guard.get(), impl->hub.get(),
                                                                          impl->resourcing_engine.get());
  {
    ASSIGN_OR_RETURN(media::MediaConfig media_config, media::ParseMediaConfig(config.media_json));
    // The media engine's pools, sized by its own section (media.workers,
    // media.max_concurrent_encodes, ...): stopped with the others.
    for (const core::PoolOptions& pool : media::MediaPools(media_config)) {
      RETURN_IF_ERROR(impl->executor->AddPool(pool).status());
    }
    media::MediaEngineOptions mo;
    mo.executor = impl->executor.get();
    mo.replica_id = replica_id;
    mo.job_lease = job_lease;
    mo.start_jobs = false;  // StartJobs() once the HTTP listener is up
    mo.config = std::move(media_config);
    mo.blob_root = (std::filesystem::path(config.data_dir) / "blobs").string();
    mo.work_dir = (std::filesystem::path(config.data_dir) / "media-tmp").string();
    Impl* self = impl.get();
    mo.http_host = [self] { return self->http ? self->http->address() : std::string(); };
    mo.http_scheme = config.http_tls_cert_file.empty() && config.tls_cert_file.empty() ? "http" : "https";
    ASSIGN_OR_RETURN(impl->media_engine, media::MediaEngine::Create(impl->store.get(), std::move(mo)));
  }
  impl->media = std::make_unique<media::MediaServiceImpl>(impl->guard.get(), impl->hub.get(),
                                                          impl->media_engine.get());
  impl->notification = std::make_unique<notification::NotificationServiceImpl>(
      impl->guard.get(), impl->hub.get(),
      notification::Engines{impl->bus.get(), impl->queues.get(), impl->apps.get(), impl->webhooks.get()});
  impl->health = std::make_unique<rpc::HealthService>(std::vector<std::string>{
      v1::ResourcingService::service_full_name(), v1::MediaService::service_full_name(),
      v1::NotificationService::service_full_name()});
  impl->cursor_engine = std::make_unique<cursors::CursorEngine>(impl->store.get());
  impl->cursors = std::make_unique<cursors::CursorServiceImpl>(impl->guard.get(), impl->cursor_engine.get());

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // The HTTP listener starts before anything that can run an operation: a
  // media operation's outcome may name a blob URL on it (mo.http_host), so
  // the address must be set before the gRPC server or the resumed jobs run.
  Impl* raw = impl.get();
  // HTTPS: the listener's own files, else the gRPC ones.
  std::shared_ptr<const httpserver::TlsContext> http_tls;
  if (!config.http_tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(http_tls, httpserver::TlsContext::Load(config.http_tls_cert_file, config.http_tls_key_file,
                                                            "http_tls_cert_file", "http_tls_key_file"));
  } else if (!config.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(http_tls, httpserver::TlsContext::Load(config.tls_cert_file, config.tls_key_file,
                                                            "tls_cert_file", "tls_key_file"));
  }
  ASSIGN_OR_RETURN(impl->http, http::AdminHttpServer::Start(config.http_address, [raw](const std::string& method,
                                                                                        const std::string& path) {
    if (method != "GET") return http::Response{405, "text/plain; charset=utf-8", "only GET is served here\n"};
    if (path == "/healthz") {
      if (raw->hub->closed()) return http::Response{503, "text/plain; charset=utf-8", "shutting down\n"};
      return http::Response{200, "text/plain; charset=utf-8", "ok\n"};
    }
    if (path == "/metrics") {
      return http::Response{200, "text/plain; version=0.0.4; charset=utf-8",
                            raw->metrics.Render() + raw->executor->RenderMetrics()};
    }
    return http::Response{404, "text/plain; charset=utf-8", "not found: try /healthz or /metrics\n"};
  }, BlobEndpoint(raw), http_tls));
  impl->media_engine->StartJobs();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.grpc_address, creds, &port);
  // gRPC's own ceiling sits above ours so that an oversized request reaches
  // the Guard and gets a clear INVALID_ARGUMENT; past 4x it is gRPC's
  // RESOURCE_EXHAUSTED.
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(config.max_message_bytes * 4, INT32_MAX)));
  builder.SetMaxSendMessageSize(static_cast<int>(std::min<int64_t>(config.max_message_bytes * 4, INT32_MAX)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.RegisterService(impl->resourcing.get());
  builder.RegisterService(impl->media.get());
  builder.RegisterService(impl->notification.get());
  builder.RegisterService(impl->health.get());
  builder.RegisterService(impl->cursors.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(rpc::MakeCallInterceptorFactory(&impl->metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  impl->grpc_server = builder.BuildAndStart();
  if (!impl->grpc_server || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on --grpc_address ", config.grpc_address,
                                               " (in use, or not an address of this machine?)"));
  }
  auto colon = config.grpc_address.rfind(':');
  impl->grpc_address = absl::StrCat(config.grpc_address.substr(0, colon), ":", port);

  impl->metrics.AddGauge("switchboard_watchers", "Open watch streams.",
                         [raw] { return static_cast<double>(raw->hub->watchers()); });
  impl->metrics.AddGauge("switchboard_log_head_sequence", "Sequence of the last durable event.",
                         [raw] { return static_cast<double>(raw->store->HeadSequence()); });
  impl->metrics.AddGauge("switchboard_bus_ready_messages", "Bus messages waiting on subscription queues.",
                         [raw] { return static_cast<double>(raw->queues->totals().ready); });
  impl->metrics.AddGauge("switchboard_bus_in_flight_messages", "Bus deliveries not yet answered.",
                         [raw] { return static_cast<double>(raw->queues->totals().in_flight); });
  impl->metrics.AddGauge("switchboard_webhook_pending_deliveries", "Webhook deliveries waiting for an attempt.",
                         [raw] { return static_cast<double>(raw->webhooks->pending()); });
  impl->metrics.AddGauge("switchboard_store_transactions", "Store transactions committed (each one fsync).",
                         [raw] { return static_cast<double>(raw->store->stats().transactions); });
  impl->metrics.AddGauge("switchboard_store_mutations", "Mutations committed; divided by transactions, the "
                         "group-commit factor.",
                         [raw] { return static_cast<double>(raw->store->stats().mutations); });
  impl->metrics.AddGauge("switchboard_store_locked_transactions",
                         "PostgreSQL: transactions that held the log counter lock (0 on SQLite).",
                         [raw] { return static_cast<double>(raw->store->stats().locked_transactions); });
  impl->metrics.AddGauge("switchboard_store_locked_mutations",
                         "PostgreSQL: mutations in those transactions; divided by them, mutations per lock hold.",
                         [raw] { return static_cast<double>(raw->store->stats().locked_mutations); });
  impl->metrics.AddGauge("switchboard_store_lock_hold_seconds",
                         "PostgreSQL: time the log counter lock was held, from granted to COMMIT answered.",
                         [raw] { return static_cast<double>(raw->store->stats().lock_hold_us) / 1e6; });

  log::Info("serving", {{"grpc_address", impl->grpc_address},
                        {"http_address", impl->http->address()},
                        {"data_dir", config.data_dir},
                        {"replica_id", replica_id},
                        {"auth", impl->auth->requires_tokens() ? "tokens" : "loopback-local-admin"},
                        {"tls", !config.tls_cert_file.empty()},
                        {"http_scheme", http_tls ? "https" : "http"},
                        {"log_head", impl->store->HeadSequence()}});
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Shutdown() {
  if (!impl_ || impl_->shut_down) return;
  impl_->shut_down = true;
  log::Info("draining", {{"grace_seconds", impl_->config.shutdown_grace_seconds}});
  impl_->health->SetServing(false);
  impl_->hub->Close();
  if (impl_->bridge) impl_->bridge->Stop();
  impl_->queues->Close();
  impl_->health->Shutdown();
  impl_->grpc_server->Shutdown(std::chrono::system_clock::now() +
                               std::chrono::seconds(impl_->config.shutdown_grace_seconds));
  impl_->grpc_server->Wait();
  impl_->http->Stop();
  impl_->resourcing_engine->Stop();
  impl_->media_engine->Shutdown();
  impl_->webhooks->Close();
  // The one place the pools stop: what is queued runs, timers are dropped,
  // threads are joined; then the store commits what is left.
  impl_->job_pruner->Stop();
  impl_->leadership->Stop();  // hands the lease back: another replica leads at its next tick
  impl_->executor->Stop();
  impl_->store->Close();
  log::Info("stopped", {{"log_head", impl_->store->HeadSequence()}});
}

}  // namespace switchboard
