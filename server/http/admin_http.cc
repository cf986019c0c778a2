#include "server/http/admin_http.h"

namespace switchboard::http {

absl::StatusOr<std::unique_ptr<AdminHttpServer>> AdminHttpServer::Start(
    const std::string& address, Handler handler, const BlobHttp* blob,
    std::shared_ptr<const httpserver::TlsContext> tls, const AdminHttpLimits& limits) {
  httpserver::ServerOptions o;
  o.address = address;
  o.tls = std::move(tls);
  o.io_threads = 1;
  o.worker_threads = limits.worker_threads;
  o.queue_limit = limits.queue_limit;
  o.queue_timeout = limits.queue_timeout;
  o.idle_timeout = limits.idle_timeout;
  o.header_limit = 16 * 1024;
  // Every request that is not the blob endpoint's is the operators', and is
  // answered here, on the I/O thread.
  o.front = [handler = std::move(handler)](const httpserver::Request& req, const httpserver::Responder& respond) {
    Response r = handler(req.method, req.target);
    httpserver::Response out;
    out.status = r.status;
    out.content_type = std::move(r.content_type);
    out.body = std::move(r.body);
    respond(std::move(out));
    return true;
  };
  if (blob != nullptr) o.streams.push_back(blob->Route());
  auto server = httpserver::HttpServer::Start(o, nullptr);
  if (!server.ok()) return server.status();
  return std::unique_ptr<AdminHttpServer>(new AdminHttpServer(std::move(*server)));
}

AdminHttpServer::~AdminHttpServer() { Stop(); }

void AdminHttpServer::Stop() { server_->Stop(); }

}  // namespace switchboard::http
