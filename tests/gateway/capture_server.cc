#include "tests/gateway/capture_server.h"

#include <stdexcept>

namespace switchboard::testing {

using httpserver::Request;
using httpserver::Responder;
using httpserver::Response;

CaptureServer::CaptureServer() {
  httpserver::ServerOptions o;
  o.address = "127.0.0.1:0";
  o.body_limit = 8 * 1024 * 1024;
  o.worker_threads = 2;
  auto s = httpserver::HttpServer::Start(o, [this](Request req, Responder respond) {
    posts_++;
    std::unique_lock<std::mutex> lock(mu_);
    if (fail_next_ > 0) {
      --fail_next_;
      respond(Response::Text(fail_status_, "failing on purpose"));
      return;
    }
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (req.method != "POST" || !j.is_array()) {
      respond(Response::Text(400, "want a POSTed JSON array"));
      return;
    }
    bodies_.push_back(req.body);
    keys_.push_back(req.Header("aeg-sas-key"));
    for (auto& e : j) events_.push_back(e);
    cv_.notify_all();
    respond(Response::Text(200, ""));
  });
  if (!s.ok()) throw std::runtime_error(std::string(s.status().message()));
  server_ = std::move(*s);
}

CaptureServer::~CaptureServer() { server_->Stop(); }

void CaptureServer::FailNext(int n, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_ = n;
  fail_status_ = status;
}

std::vector<nlohmann::json> CaptureServer::Events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

std::vector<std::string> CaptureServer::Bodies() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bodies_;
}

std::vector<std::string> CaptureServer::Keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_;
}

bool CaptureServer::WaitForEvents(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
}

}  // namespace switchboard::testing
