// Issue 20, finding 4: while switchboardd stalls, the gateway's /healthz and
// /metrics still answer at once, and work beyond the bounded queue is shed
// with 503 at once instead of waiting for a handler thread. A "black hole"
// gRPC server plays the stalled switchboardd: it accepts every call (health
// included) and never answers, as a SIGSTOPped process whose kernel still
// holds the connection open.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <list>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gateway/gateway.h"
#include "tests/gateway/http_client.h"

namespace switchboard::gateway {
namespace {

using switchboard::testing::HttpClient;
using switchboard::testing::HttpResult;
using Clock = std::chrono::steady_clock;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(SB_FIXTURES_DIR) + "/eventgrid/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Accepts every call and answers none until Release() or the caller's
// deadline (then the call is cancelled).
class BlackHole {
 public:
  BlackHole() {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterCallbackGenericService(&service_);
    server_ = b.BuildAndStart();
  }
  ~BlackHole() {
    Release();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Calls received so far, by method.
  int Calls(const std::string& method_substring) {
    std::lock_guard<std::mutex> lock(service_.mu);
    int n = 0;
    for (const auto& m : service_.methods) n += m.find(method_substring) != std::string::npos;
    return n;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(service_.mu);
    service_.released = true;
    for (auto* r : service_.open) r->End();
  }

 private:
  struct Service;
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(Service* s) : s_(s) {}
    void End() {
      if (!ended_.exchange(true)) Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "black hole released"));
    }
    void OnCancel() override { End(); }
    void OnDone() override {
      {
        std::lock_guard<std::mutex> lock(s_->mu);
        s_->open.remove(this);
      }
      delete this;
    }

   private:
    Service* s_;
    std::atomic<bool> ended_{false};
  };
  struct Service : grpc::CallbackGenericService {
    grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
      auto* r = new Reactor(this);
      std::lock_guard<std::mutex> lock(mu);
      methods.push_back(ctx->method());
      open.push_back(r);
      if (released) r->End();
      return r;
    }
    std::mutex mu;
    std::vector<std::string> methods;
    std::list<Reactor*> open;
    bool released = false;
  };
  Service service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST(GatewayOverloadTest, HealthAndMetricsAnswerAndExtraWorkIsShedWhileSwitchboarddStalls) {
  BlackHole stalled;
  GatewayConfig c;
  c.server = stalled.address();
  c.http_address = "127.0.0.1:0";
  c.eventgrid_key = "in-key";
  c.http_worker_threads = 2;
  c.http_queue_limit = 2;
  c.timeout_seconds = 8;
  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();
  const std::string address = (*gw)->http_address();
  const std::string body = Fixture("request.blob.metadata.create.json");
  const std::map<std::string, std::string> key = {{"aeg-sas-key", "in-key"}};

  // Two POSTs hold both handler threads on stalled calls, two wait in the queue.
  std::vector<std::thread> stuck;
  std::vector<HttpResult> stuck_results(4);
  struct Joiner {
    BlackHole& hole;
    std::vector<std::thread>& threads;
    ~Joiner() {
      hole.Release();
      for (auto& t : threads) t.join();
    }
  } joiner{stalled, stuck};
  auto post_stuck = [&](int i) {
    stuck.emplace_back([&, i] { stuck_results[i] = HttpClient(address).Post("/api/eventgrid", body, key); });
  };
  post_stuck(0);
  post_stuck(1);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (stalled.Calls("MediaService") < 2 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(stalled.Calls("MediaService"), 2);
  post_stuck(2);
  post_stuck(3);
  HttpClient probe(address);
  std::string metrics;
  while (Clock::now() < deadline) {
    metrics = probe.Get("/metrics").body;
    if (metrics.find("switchboard_gateway_http_queued_requests 2\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_NE(metrics.find("switchboard_gateway_http_queued_requests 2\n"), std::string::npos) << metrics;

  // Extra work: 503 at once.
  for (int i = 0; i < 3; ++i) {
    auto t = Clock::now();
    auto r = HttpClient(address).Post("/api/eventgrid", body, key);
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_NE(r.body.find("busy"), std::string::npos) << r.body;
    EXPECT_EQ(r.headers["retry-after"], "1");
    EXPECT_LT(Since(t), 1.0);
  }
  // Health and metrics answer within a second throughout the stall.
  auto until = Clock::now() + std::chrono::seconds(3);
  int probes = 0;
  while (Clock::now() < until) {
    auto t = Clock::now();
    auto h = probe.Get("/healthz");
    double health_seconds = Since(t);
    EXPECT_EQ(h.status, 503) << h.body;
    EXPECT_NE(h.body.find("switchboardd unreachable: DEADLINE_EXCEEDED"), std::string::npos) << h.body;
    EXPECT_LT(health_seconds, 1.0);
    t = Clock::now();
    auto m = probe.Get("/metrics");
    EXPECT_EQ(m.status, 200);
    EXPECT_LT(Since(t), 1.0);
    ++probes;
  }
  EXPECT_GE(probes, 3);
  auto m = probe.Get("/metrics");
  EXPECT_NE(m.body.find("switchboard_gateway_errors_total{kind=\"shed_queue_full\"} 3\n"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("switchboard_gateway_http_requests_total{route=\"eventgrid\",status=\"503\"} 3\n"),
            std::string::npos)
      << m.body;

  // The stall ends: the stuck requests end with 503 (Event Grid redelivers).
  stalled.Release();
  for (auto& t : stuck) t.join();
  stuck.clear();
  for (const auto& r : stuck_results) EXPECT_EQ(r.status, 503) << r.body;
}

TEST(GatewayOverloadTest, RequestThatWaitedTooLongInTheQueueIsShedUnrun) {
  BlackHole stalled;
  GatewayConfig c;
  c.server = stalled.address();
  c.http_address = "127.0.0.1:0";
  c.eventgrid_key = "in-key";
  c.http_worker_threads = 1;
  c.http_queue_limit = 4;
  c.http_queue_timeout_ms = 300;
  c.timeout_seconds = 1;
  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();
  const std::string address = (*gw)->http_address();
  const std::string body = Fixture("request.blob.metadata.create.json");
  const std::map<std::string, std::string> key = {{"aeg-sas-key", "in-key"}};
  HttpResult first, second;
  std::thread a([&] { first = HttpClient(address).Post("/api/eventgrid", body, key); });
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (stalled.Calls("MediaService") < 1 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (stalled.Calls("MediaService") != 1) {
    a.join();  // a joinable thread must not be destroyed: its call ends by its 1 s deadline
    FAIL() << "the first request never reached switchboardd (calls: " << stalled.Calls("MediaService") << ")";
  }
  std::thread b([&] { second = HttpClient(address).Post("/api/eventgrid", body, key); });
  a.join();
  b.join();
  EXPECT_EQ(first.status, 503) << first.body;  // its call timed out
  EXPECT_EQ(second.status, 503) << second.body;
  EXPECT_NE(second.body.find("busy: waited more than 300 ms"), std::string::npos) << second.body;
  EXPECT_EQ(stalled.Calls("MediaService"), 1) << "the request that waited too long must not run";
}

int FreePort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

TEST(GatewayOverloadTest, PostsAreShedAtOnceWhileSwitchboarddIsUnreachable) {
  GatewayConfig c;
  c.server = "127.0.0.1:" + std::to_string(FreePort());  // nothing listens
  c.http_address = "127.0.0.1:0";
  c.eventgrid_key = "in-key";
  c.managedapp_sig = "sig";
  auto gw = Gateway::Start(c);
  ASSERT_TRUE(gw.ok()) << gw.status();
  HttpClient client((*gw)->http_address());
  const std::string body = Fixture("request.blob.metadata.create.json");
  // The first call finds the connection failing; from then on the channel is
  // in TRANSIENT_FAILURE and POSTs are answered without a handler thread.
  HttpResult r;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    r = client.Post("/api/eventgrid", body, {{"aeg-sas-key", "in-key"}});
    if (r.body.find("connection is failing") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.body, "switchboardd unreachable (its connection is failing); retry later\n");
  auto t = Clock::now();
  r = client.Post("/resource?sig=sig", "{}");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_LT(Since(t), 0.5);
  auto m = client.Get("/metrics");
  EXPECT_NE(m.body.find("switchboard_gateway_errors_total{kind=\"shed_unreachable\"}"), std::string::npos) << m.body;
}

}  // namespace
}  // namespace switchboard::gateway
