// sb_bench_notification: the notification issue's benchmark, in one run.
//
// 1. Bus publish -> subscriber delivery with 1, 10 and 100 durable
//    subscriptions: deliveries per second and publish-to-delivery latency
//    (p50, p99), each delivery acked by its subscriber.
// 2. Webhook deliveries per second to a local HTTP receiver, side by side
//    with that receiver's own ceiling measured by `wrk` with as many
//    connections as Switchboard may use. By default the deliveries drain a
//    backlog (--webhook_backlog, 20,000): the receiver holds its door shut
//    while every event is published, so that the deliveries pile up as
//    pending jobs, then opens it, and the clock runs from then until the
//    last one arrives (the publisher is not the limit). --webhook_backlog=0
//    measures --webhook_events delivered while they are published instead.
//    Beside the rate, the CPU this process spends per delivery during the
//    drain (switchboard and the receiver, both in this process) and the
//    receiver's own CPU per request while wrk ran (the server not started
//    yet): their difference is switchboard's CPU per delivery, a steadier
//    figure than a one-second drain's rate. --webhook_rounds repeats each.
//    Between the two, the HTTP client switchboard delivers with, alone
//    (ClientCeiling: the same POSTs, as many in flight, nothing recorded):
//    how much of the gap to wrk is the client and how much the durable path.
//
// Every run uses a fresh in-process switchboardd (real SQLite, full sync) in
// a temp dir, with the status bridge off so only the bus is measured.
// docs/performance.md has the figures.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/cli.h"
#include "common/http/async_client.h"
#include "server/server.h"
#include "switchboard/v1/notification.grpc.pb.h"
#include "clients/lib/webhook_receiver.h"
#include "process.h"

namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;

namespace {

int64_t NowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(v.size() * p))];
}

std::string TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sb_bench_notification.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

// perf's control fifo (--perf_control): "enable" is written to it when a
// drain starts and "disable" when it ends, so that `perf record -D -1
// --control fifo:F` samples the drains alone.
std::string g_perf_control;

void PerfControl(const char* command) {
  if (g_perf_control.empty()) return;
  std::ofstream fifo(g_perf_control);
  fifo << command << "\n" << std::flush;
}

// switchboardd's job_retention_seconds in every run (--job_retention_seconds).
int64_t g_job_retention_seconds = switchboard::core::ServerConfig{}.job_retention_seconds;

std::unique_ptr<switchboard::Server> StartServer(const std::string& dir, int per_endpoint) {
  switchboard::core::ServerConfig config;
  config.job_retention_seconds = g_job_retention_seconds;
  config.data_dir = dir + "/data";
  config.grpc_address = "127.0.0.1:0";
  config.http_address = "127.0.0.1:0";
  config.bus_status_events = 0;
  config.webhook_per_endpoint_in_flight = per_endpoint;
  config.log_level = "warn";
  auto server = switchboard::Server::Start(config);
  if (!server.ok()) {
    std::cerr << "switchboardd: " << server.status() << "\n";
    return nullptr;
  }
  return std::move(*server);
}

v1::PublishRequest Envelope(const std::string& run, int i) {
  v1::PublishRequest req;
  auto* e = req.mutable_envelope();
  e->set_event_uuid(run + "-" + std::to_string(i));
  e->set_event_name("bench.gapps.account.updated");
  e->mutable_event_creation_time()->set_seconds(1700000000);
  e->set_event_sender_id("bench");
  auto& data = *e->mutable_data()->mutable_fields();
  data["id"].set_string_value(std::to_string(i));
  data["t_ns"].set_string_value(std::to_string(NowNs()));
  data["padding"].set_string_value(std::string(200, 'x'));
  return req;
}

// Publishes `n` envelopes from `threads` threads; false on any error.
bool PublishAll(v1::NotificationService::Stub& stub, const std::string& run, int n, int threads) {
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n && ok; i = next++) {
        grpc::ClientContext ctx;
        v1::PublishResponse resp;
        grpc::Status s = stub.Publish(&ctx, Envelope(run, i), &resp);
        if (!s.ok()) {
          std::cerr << "publish: " << s.error_message() << "\n";
          ok = false;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  return ok;
}

struct BusResult {
  int subscribers = 0;
  int messages = 0;
  int64_t deliveries = 0;
  double seconds = 0;
  double publish_seconds = 0;
  double p50_ms = 0, p99_ms = 0;
};

// A consumer's acks, batched: one Ack call in flight at a time, carrying
// every delivery read while the previous one was under way
// (AckRequest.delivery_ids).
class BatchAcker {
 public:
  BatchAcker(v1::NotificationService::Stub* stub, std::string subscription, std::atomic<int64_t>* in_flight)
      : stub_(stub), subscription_(std::move(subscription)), in_flight_(in_flight) {}

  void Add(const std::string& delivery_id) {
    std::lock_guard<std::mutex> lock(mu_);
    waiting_.push_back(delivery_id);
    if (!sending_) SendLocked();
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    v1::AckRequest req;
    v1::AckResponse resp;
  };

  void SendLocked() {
    auto* call = new Call;
    call->req.set_subscription(subscription_);
    for (auto& id : waiting_) call->req.add_delivery_ids(std::move(id));
    waiting_.clear();
    sending_ = true;
    ++*in_flight_;
    stub_->async()->Ack(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status s) {
      if (!s.ok()) std::cerr << "ack: " << s.error_message() << "\n";
      if (call->resp.not_outstanding_size() > 0) {
        std::cerr << "ack: " << call->resp.not_outstanding_size() << " of " << call->req.delivery_ids_size()
                  << " deliveries no longer outstanding, " << call->resp.not_outstanding(0) << " first\n";
      }
      delete call;
      {
        std::lock_guard<std::mutex> lock(mu_);
        sending_ = false;
        if (!waiting_.empty()) SendLocked();
      }
      --*in_flight_;
    });
  }

  v1::NotificationService::Stub* stub_;
  const std::string subscription_;
  std::atomic<int64_t>* in_flight_;
  std::mutex mu_;
  std::vector<std::string> waiting_;
  bool sending_ = false;
};

bool BenchBus(int subscribers, int messages, int publishers, bool batched_acks, BusResult* out) {
  std::string dir = TempDir();
  auto server = StartServer(dir, 2);
  if (!server) return false;
  auto channel = grpc::CreateChannel(server->grpc_address(), grpc::InsecureChannelCredentials());
  auto stub = v1::NotificationService::NewStub(channel);
  for (int i = 0; i < subscribers; ++i) {
    grpc::ClientContext ctx;
    v1::CreateSubscriptionRequest req;
    req.set_request_id("bench-subscription-" + std::to_string(i));
    req.mutable_subscription()->set_queue("q" + std::to_string(i));
    req.mutable_subscription()->add_bindings("bench.#");
    v1::Subscription sub;
    grpc::Status s = stub->CreateSubscription(&ctx, req, &sub);
    if (!s.ok()) {
      std::cerr << "create subscription: " << s.error_message() << "\n";
      return false;
    }
  }
  std::mutex mu;
  std::vector<double> latencies;
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> acks_in_flight{0};
  const int64_t want = static_cast<int64_t>(subscribers) * messages;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  for (int i = 0; i < subscribers; ++i) contexts.push_back(std::make_unique<grpc::ClientContext>());
  // Outlive the readers: an Ack's callback may still run after its reader ended.
  std::vector<std::unique_ptr<BatchAcker>> ackers;
  for (int i = 0; i < subscribers; ++i) {
    ackers.push_back(std::make_unique<BatchAcker>(stub.get(), "subscriptions/q" + std::to_string(i), &acks_in_flight));
  }
  std::vector<std::thread> readers;
  for (int i = 0; i < subscribers; ++i) {
    readers.emplace_back([&, i] {
      v1::SubscribeRequest req;
      req.set_subscription("subscriptions/q" + std::to_string(i));
      req.set_max_in_flight(64);
      auto reader = stub->Subscribe(contexts[i].get(), req);
      v1::Delivery d;
      std::vector<double> mine;
      while (reader->Read(&d)) {
        int64_t sent = std::stoll(d.envelope().data().fields().at("t_ns").string_value());
        mine.push_back((NowNs() - sent) / 1e6);
        if (batched_acks) {
          ackers[i]->Add(d.delivery_id());
        } else {
          // Acks are pipelined (callback API), as a consumer with a worker
          // pool would send them; each is durable when its callback runs.
          struct PendingAck {
            grpc::ClientContext ctx;
            v1::AckRequest req;
            v1::AckResponse resp;
          };
          auto* ack = new PendingAck;
          ack->req.set_subscription(d.subscription());
          ack->req.set_delivery_id(d.delivery_id());
          ++acks_in_flight;
          stub->async()->Ack(&ack->ctx, &ack->req, &ack->resp, [ack, &acks_in_flight](grpc::Status s) {
            if (!s.ok()) std::cerr << "ack: " << s.error_message() << "\n";
            delete ack;
            --acks_in_flight;
          });
        }
        if (++delivered >= want) break;
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  auto start = Clock::now();
  bool ok = PublishAll(*stub, "bus" + std::to_string(subscribers), messages, publishers);
  double publish_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto deadline = Clock::now() + std::chrono::seconds(300);
  while (ok && delivered < want && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Every ack answered before the streams end (an ended stream's deliveries
  // go back to their queues, and a later ack of one is refused).
  while (acks_in_flight > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& c : contexts) c->TryCancel();
  for (auto& t : readers) t.join();
  while (acks_in_flight > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server->Shutdown();
  std::filesystem::remove_all(dir);
  if (delivered < want) {
    std::cerr << "only " << delivered << " of " << want << " deliveries arrived\n";
    return false;
  }
  *out = {subscribers, messages, delivered.load(), seconds, publish_seconds, Percentile(latencies, 0.5),
          Percentile(latencies, 0.99)};
  return true;
}

// `wrk` POSTing `body` to `url` with `connections` connections: requests/s,
// or a negative number if wrk is missing or failed.
double WrkCeiling(const std::string& url, const std::string& body, int connections, int seconds) {
  std::string dir = TempDir();
  std::string script = dir + "/post.lua";
  {
    std::ofstream lua(script);
    std::string escaped;
    for (char c : body) {
      if (c == '\\' || c == '"') escaped += '\\';
      escaped += c;
    }
    lua << "wrk.method = \"POST\"\nwrk.body = \"" << escaped
        << "\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n";
  }
  std::string cmd = "wrk -t1 -c" + std::to_string(connections) + " -d" + std::to_string(seconds) + "s -s " + script +
                    " " + url + " 2>&1";
  std::string output;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof(buf), p) != nullptr) output += buf;
    pclose(p);
  }
  std::filesystem::remove_all(dir);
  std::smatch m;
  if (std::regex_search(output, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) return std::stod(m[1].str());
  std::cerr << "wrk failed:\n" << output << "\n";
  return -1;
}

// The HTTP client switchboard delivers with (httpclient::AsyncClient, one
// curl multi loop) POSTing `body` to `url` with `in_flight` calls at a
// time, `n` in all, and nothing else: no store, no job, no record. What
// the client alone reaches on this machine, between wrk and a delivery.
struct ClientRun {
  int requests = 0;
  double rps = -1;
  double cpu = 0;  // CPU seconds of this process (the client and the receiver)
};
ClientRun ClientCeiling(const std::string& url, const std::string& body, int in_flight, int n) {
  switchboard::httpclient::AsyncClient client;
  std::mutex mu;
  std::condition_variable cv;
  int started = 0, finished = 0, failed = 0;
  std::function<void()> start_one = [&] {
    switchboard::httpclient::Request req;
    req.method = "POST";
    req.url = url;
    req.headers = {{"Content-Type", "application/json"}};
    req.owned_body = body;
    client.Start(std::move(req), [&](absl::StatusOr<switchboard::httpclient::Response> r) {
      bool more = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        ++finished;
        if (!r.ok() || r->status / 100 != 2) ++failed;
        if (started < n) {
          ++started;
          more = true;
        }
        if (finished == n) cv.notify_all();
      }
      if (more) start_one();
    });
  };
  const auto start = Clock::now();
  const double cpu0 = switchboard::bench::SelfCpuSeconds();
  {
    std::lock_guard<std::mutex> lock(mu);
    started = std::min(in_flight, n);
  }
  for (int i = 0; i < std::min(in_flight, n); ++i) start_one();
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return finished == n; });
  }
  ClientRun out;
  out.requests = n;
  out.cpu = switchboard::bench::SelfCpuSeconds() - cpu0;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  client.Stop();
  if (failed > 0) {
    std::cerr << failed << " of " << n << " calls of the client alone failed\n";
    return out;
  }
  out.rps = n / seconds;
  return out;
}

struct HookResult {
  int per_endpoint = 0;
  int events = 0;
  double seconds = 0;
  double wrk_rps = 0;
  // The HTTP client alone (ClientCeiling), with as many calls in flight.
  ClientRun client;
  // CPU seconds of this process: while wrk ran, and while the backlog (or
  // the events) drained.
  double wrk_cpu = 0;
  double drain_cpu = 0;
  // wrk's own CPU seconds (its process, and the shell that started it).
  double wrk_own_cpu = 0;
  // This process's CPU seconds while the deliveries drained, by thread name.
  std::map<std::string, double> drain_threads;
};

// The receiver's door: while shut, each request waits at it (the first
// per_endpoint attempts), and the rest of the deliveries wait as jobs.
class Door {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// "- in flight N, run R: name µs, ..." from the drain's CPU by thread,
// largest first.
std::string ThreadLine(const HookResult& r, int round) {
  std::vector<std::pair<double, std::string>> us;
  for (const auto& [name, cpu] : r.drain_threads) {
    const double per = 1e6 * cpu / r.events;
    if (per >= 0.5) us.emplace_back(per, name);
  }
  std::sort(us.rbegin(), us.rend());
  std::string line = "- in flight " + std::to_string(r.per_endpoint) + ", run " + std::to_string(round) + ":";
  char buf[160];
  for (size_t i = 0; i < us.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%s `%s` %.1f", i == 0 ? "" : ",", us[i].second.c_str(), us[i].first);
    line += buf;
  }
  return line;
}

// `backlog` > 0: publishes `backlog` events with the door shut, then times
// the drain from its opening. 0: times `events` delivered while published.
bool BenchWebhook(int per_endpoint, int events, int backlog, int publishers, int wrk_seconds, HookResult* out) {
  Door door;
  switchboard::client::WebhookReceiver receiver([&door](const switchboard::client::WebhookReceiver::Request& r) {
    if (r.target.find("/wrk") == std::string::npos) door.Pass();  // wrk's requests never wait
    return switchboard::client::WebhookReceiver::Reply{};
  });
  // The receiver's ceiling with the same body and as many connections.
  std::string body = R"({"event_uuid":"wrk-0","event_name":"bench.gapps.account.updated",)"
                     R"("event_creation_time":"2023-11-14T22:13:20+00:00","event_sender_id":"bench",)"
                     R"("data":{"id":"0","padding":")" +
                     std::string(200, 'x') + R"(","t_ns":"1"}})";
  const double wrk_cpu0 = switchboard::bench::SelfCpuSeconds();
  const double wrk_own_cpu0 = switchboard::bench::ChildrenCpuSeconds();
  double rps = WrkCeiling(receiver.url() + "/wrk", body, per_endpoint, wrk_seconds);
  const double wrk_cpu = switchboard::bench::SelfCpuSeconds() - wrk_cpu0;
  const double wrk_own_cpu = switchboard::bench::ChildrenCpuSeconds() - wrk_own_cpu0;
  if (rps < 0) return false;
  const int n = backlog > 0 ? backlog : events;
  // Four times the deliveries' count: a run long enough to time steadily.
  const ClientRun client = ClientCeiling(receiver.url() + "/wrk", body, per_endpoint, 4 * n);
  if (client.rps < 0) return false;
  size_t before = receiver.received().size();
  if (backlog == 0) door.Open();

  std::string dir = TempDir();
  auto server = StartServer(dir, per_endpoint);
  if (!server) return false;
  auto stub = v1::NotificationService::NewStub(
      grpc::CreateChannel(server->grpc_address(), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    v1::CreateWebhookSubscriptionRequest req;
    req.set_request_id("bench-webhook");
    req.mutable_webhook()->set_url(receiver.url() + "/hook");
    req.mutable_webhook()->add_bindings("bench.#");
    req.mutable_webhook()->set_secret("bench-secret-0123456789");
    // The attempts waiting at the shut door must not time out meanwhile.
    req.mutable_webhook()->mutable_attempt_timeout()->set_seconds(300);
    v1::WebhookSubscription hook;
    grpc::Status s = stub->CreateWebhookSubscription(&ctx, req, &hook);
    if (!s.ok()) {
      std::cerr << "create webhook: " << s.error_message() << "\n";
      return false;
    }
  }
  auto start = Clock::now();
  double cpu0 = switchboard::bench::SelfCpuSeconds();
  auto threads0 = switchboard::bench::ThreadCpuNow();
  bool ok = PublishAll(*stub, "hook" + std::to_string(per_endpoint), n, publishers);
  if (backlog > 0) {
    // Every publish is durable with its delivery's job: the backlog is in.
    start = Clock::now();
    cpu0 = switchboard::bench::SelfCpuSeconds();
    threads0 = switchboard::bench::ThreadCpuNow();
    PerfControl("enable");
    door.Open();
  }
  ok = ok && receiver.WaitFor(before + n, 600000);
  if (backlog > 0) PerfControl("disable");
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double drain_cpu = switchboard::bench::SelfCpuSeconds() - cpu0;
  std::map<std::string, double> drain_threads = switchboard::bench::ThreadCpuSince(threads0);
  server->Shutdown();
  std::filesystem::remove_all(dir);
  if (!ok) {
    std::cerr << "webhook deliveries did not all arrive\n";
    return false;
  }
  *out = {per_endpoint, n, seconds, rps, client, wrk_cpu, drain_cpu, wrk_own_cpu, std::move(drain_threads)};
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  switchboard::Cli cli("sb_bench_notification", "sb_bench_notification [flags]");
  cli.AddInt("messages", 2000, "Messages published per bus run with 1 subscriber (10: half, 100: an eighth).");
  cli.AddInt("publishers", 16, "Publishing threads (each a synchronous Publish loop).");
  cli.AddInt("webhook_backlog", 20000,
             "Pending deliveries drained per webhook run (published first); 0: --webhook_events while published.");
  cli.AddInt("webhook_events", 3000, "Events delivered per webhook run with --webhook_backlog=0.");
  cli.AddInt("wrk_seconds", 5, "Duration of each wrk run.");
  cli.AddInt("webhook_rounds", 1, "Runs of each in-flight setting (a row each).");
  cli.AddInt("job_retention_seconds", g_job_retention_seconds,
             "switchboardd's job_retention_seconds (0: completed jobs are deleted as they complete).");
  cli.AddString("only", "", "bus or webhooks: run that part alone.");
  cli.AddString("webhook_in_flight", "2,8", "The in-flight settings of the webhook runs, comma-separated.");
  cli.AddString("perf_control", "",
                "perf's control fifo: 'enable' is written to it as each backlog's drain starts and 'disable' as it "
                "ends (perf record -D -1 --control fifo:FILE profiles the drains alone).");
  cli.AddString("acks", "batched",
                "How each bus subscriber acks: batched (one Ack call in flight, with every delivery read meanwhile "
                "in delivery_ids) or each (a pipelined Ack call per delivery, as before AckRequest.delivery_ids).");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  g_job_retention_seconds = cli.GetInt("job_retention_seconds");
  g_perf_control = cli.GetString("perf_control");
  std::vector<int> in_flight_settings;
  for (absl::string_view part : absl::StrSplit(cli.GetString("webhook_in_flight"), ',')) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      std::cerr << "--webhook_in_flight has '" << part << "'; give positive whole numbers, comma-separated\n";
      return 2;
    }
    in_flight_settings.push_back(v);
  }
  const int messages = static_cast<int>(cli.GetInt("messages"));
  const int publishers = static_cast<int>(cli.GetInt("publishers"));

  const std::string acks = cli.GetString("acks");
  if (acks != "batched" && acks != "each") {
    std::cerr << "--acks is '" << acks << "'; give batched or each\n";
    return 2;
  }
  const bool batched_acks = acks == "batched";
  const std::string only = cli.GetString("only");
  if (!only.empty() && only != "bus" && only != "webhooks") {
    std::cerr << "--only is '" << only << "'; give bus or webhooks\n";
    return 2;
  }
  if (only.empty() || only == "bus") {
    std::printf("## Bus: publish -> delivery (each delivery acked, acks %s)\n\n",
                batched_acks ? "batched" : "one call each");
    std::printf("| subscribers | messages | deliveries | seconds | deliveries/s | publishes/s | p50 ms | p99 ms |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (auto [subs, msgs] : {std::pair{1, messages}, std::pair{10, messages / 2}, std::pair{100, messages / 8}}) {
      BusResult r;
      if (!BenchBus(subs, msgs, publishers, batched_acks, &r)) return 1;
      std::printf("| %d | %d | %lld | %.2f | %.0f | %.0f | %.1f | %.1f |\n", r.subscribers, r.messages,
                  static_cast<long long>(r.deliveries), r.seconds, r.deliveries / r.seconds,
                  r.messages / r.publish_seconds, r.p50_ms, r.p99_ms);
      std::fflush(stdout);
    }
  }
  if (only.empty() || only == "webhooks") {
    const int backlog = static_cast<int>(cli.GetInt("webhook_backlog"));
    std::printf("\n## Webhooks: deliveries/s against the receiver's own ceiling (wrk, same connections)%s\n\n",
                backlog > 0 ? ", draining a backlog" : ", while published");
    std::printf("| in flight per webhook | %s | seconds | switchboard deliveries/s | wrk requests/s | ratio "
                "| CPU µs per delivery (process) | receiver CPU µs per wrk request | switchboard CPU µs per delivery "
                "| client alone: requests/s | its ratio | its CPU µs per request | wrk's CPU µs per request |\n",
                backlog > 0 ? "backlog" : "events");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const int wrk_seconds = static_cast<int>(cli.GetInt("wrk_seconds"));
    const int64_t rounds = std::max<int64_t>(1, cli.GetInt("webhook_rounds"));
    // Where this process's CPU went, a line per run, after the table.
    std::vector<std::string> by_thread;
    for (int per_endpoint : in_flight_settings) {
      for (int64_t round = 0; round < rounds; ++round) {
        HookResult r;
        if (!BenchWebhook(per_endpoint, static_cast<int>(cli.GetInt("webhook_events")), backlog, publishers,
                          wrk_seconds, &r)) {
          return 1;
        }
        const double rate = r.events / r.seconds;
        const double per_delivery_us = 1e6 * r.drain_cpu / r.events;
        const double receiver_us = 1e6 * r.wrk_cpu / (r.wrk_rps * wrk_seconds);
        const double client_us = 1e6 * r.client.cpu / r.client.requests - receiver_us;
        const double wrk_us = 1e6 * r.wrk_own_cpu / (r.wrk_rps * wrk_seconds);
        std::printf("| %d | %d | %.2f | %.0f | %.0f | %.2f | %.1f | %.1f | %.1f | %.0f | %.2f | %.1f | %.1f |\n",
                    r.per_endpoint, r.events, r.seconds, rate, r.wrk_rps, rate / r.wrk_rps, per_delivery_us,
                    receiver_us, per_delivery_us - receiver_us, r.client.rps, r.client.rps / r.wrk_rps, client_us,
                    wrk_us);
        std::fflush(stdout);
        by_thread.push_back(ThreadLine(r, static_cast<int>(round) + 1));
      }
    }
    std::printf("\nThis process's CPU while the deliveries drained, by thread name, in µs per delivery (threads of "
                "0.5 µs or more; `sb_bench_notifi` is the receiver's threads and the benchmark's own):\n\n");
    for (const std::string& line : by_thread) std::printf("%s\n", line.c_str());
  }
  return 0;
}
