// sb_bench: Switchboard's load generator. See docs/performance.md.

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/cli.h"
#include "echo.grpc.pb.h"
#include "fanout.h"
#include "load.h"
#include "process.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace sb = switchboard::bench;
namespace v1 = switchboard::v1;

namespace {

std::string RunId() { return std::to_string(std::chrono::system_clock::now().time_since_epoch().count()); }

class EchoSlot final : public sb::CallSlot {
 public:
  explicit EchoSlot(std::shared_ptr<grpc::Channel> ch) : stub_(switchboard::bench::Echo::NewStub(ch)) {}
  void Start(grpc::CompletionQueue* cq, void* tag, uint64_t) override {
    req_.set_payload("busEvents/bench-read-target");
    call_ = stub_->PrepareAsyncEcho(&ctx_, req_, cq);
    call_->StartCall();
    call_->Finish(&resp_, &status_, tag);
  }
  const grpc::Status& status() const override { return status_; }

 private:
  std::unique_ptr<switchboard::bench::Echo::Stub> stub_;
  grpc::ClientContext ctx_;
  switchboard::bench::EchoMessage req_, resp_;
  grpc::Status status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<switchboard::bench::EchoMessage>> call_;
};

class GetBusEventSlot final : public sb::CallSlot {
 public:
  GetBusEventSlot(std::shared_ptr<grpc::Channel> ch, std::string name)
      : stub_(v1::NotificationService::NewStub(ch)), name_(std::move(name)) {}
  void Start(grpc::CompletionQueue* cq, void* tag, uint64_t) override {
    req_.set_name(name_);
    call_ = stub_->PrepareAsyncGetBusEvent(&ctx_, req_, cq);
    call_->StartCall();
    call_->Finish(&resp_, &status_, tag);
  }
  const grpc::Status& status() const override { return status_; }

 private:
  std::unique_ptr<v1::NotificationService::Stub> stub_;
  std::string name_;
  grpc::ClientContext ctx_;
  v1::GetBusEventRequest req_;
  v1::BusEvent resp_;
  grpc::Status status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::BusEvent>> call_;
};

class PublishSlot final : public sb::CallSlot {
 public:
  PublishSlot(std::shared_ptr<grpc::Channel> ch, std::string prefix)
      : stub_(v1::NotificationService::NewStub(ch)), prefix_(std::move(prefix)) {}
  void Start(grpc::CompletionQueue* cq, void* tag, uint64_t n) override {
    auto* env = req_.mutable_envelope();
    env->set_event_uuid(prefix_ + std::to_string(n));
    env->set_event_name("bench.write");
    env->mutable_event_creation_time()->set_seconds(1700000000);
    env->set_event_sender_id("sb_bench");
    (*env->mutable_data()->mutable_fields())["n"].set_number_value(static_cast<double>(n));
    call_ = stub_->PrepareAsyncPublish(&ctx_, req_, cq);
    call_->StartCall();
    call_->Finish(&resp_, &status_, tag);
  }
  const grpc::Status& status() const override { return status_; }

 private:
  std::unique_ptr<v1::NotificationService::Stub> stub_;
  std::string prefix_;
  grpc::ClientContext ctx_;
  v1::PublishRequest req_;
  v1::PublishResponse resp_;
  grpc::Status status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::PublishResponse>> call_;
};

// Publishes the event the read benchmark fetches; returns its name.
std::string SeedReadTarget(const std::string& target) {
  auto stub = v1::NotificationService::NewStub(sb::NewChannel(target, 9999));
  grpc::ClientContext ctx;
  v1::PublishRequest req;
  auto* env = req.mutable_envelope();
  env->set_event_uuid("bench-read-target");
  env->set_event_name("bench.read");
  env->mutable_event_creation_time()->set_seconds(1700000000);
  env->set_event_sender_id("sb_bench");
  (*env->mutable_data()->mutable_fields())["id"].set_string_value("12453");
  v1::PublishResponse resp;
  grpc::Status s = stub->Publish(&ctx, req, &resp);
  if (!s.ok()) std::cerr << "sb_bench: seeding the read target failed: " << s.error_message() << "\n";
  return "busEvents/bench-read-target";
}

sb::LoadResult RunKind(const std::string& kind, const std::string& target, int threads, int concurrency,
                       double duration) {
  if (kind == "echo") {
    return sb::RunLoad(target, threads, concurrency, duration,
                       [](auto ch) { return std::make_unique<EchoSlot>(ch); });
  }
  if (kind == "getbusevent") {
    std::string name = SeedReadTarget(target);
    return sb::RunLoad(target, threads, concurrency, duration,
                       [name](auto ch) { return std::make_unique<GetBusEventSlot>(ch, name); });
  }
  std::string prefix = "bench-w-" + RunId() + "-";
  return sb::RunLoad(target, threads, concurrency, duration,
                     [prefix](auto ch) { return std::make_unique<PublishSlot>(ch, prefix); });
}

std::string Fmt(double v, int prec = 0) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", prec, v);
  return buf;
}

void PrintLoad(const std::string& label, const sb::LoadResult& r) {
  std::cout << "| " << label << " | " << Fmt(r.Throughput()) << " | " << Fmt(r.Percentile(50), 0) << " | "
            << Fmt(r.Percentile(99), 0) << " | " << r.ok << " | " << r.errors << " |\n";
  if (r.errors) std::cout << "\nfirst error: " << r.first_error << "\n";
}

void RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string CommandLine(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

int All(const switchboard::Cli& cli, int argc, char** argv) {
  const double duration = static_cast<double>(cli.GetInt("duration_s"));
  const int concurrency = static_cast<int>(cli.GetInt("concurrency"));
  const int threads = static_cast<int>(cli.GetInt("threads"));
  const int watchers = static_cast<int>(cli.GetInt("watchers"));
  std::string tmp = std::filesystem::temp_directory_path().string() + "/sb-bench-" + RunId();
  std::filesystem::create_directories(tmp);
  int rc = 0;
  {
    sb::ChildProcess echo({cli.GetString("echo_server"), "--address=127.0.0.1:0"}, tmp + "/echo.log");
    sb::ChildProcess sbd({cli.GetString("switchboardd"), "--data_dir=" + tmp + "/data",
                          "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0"},
                         tmp + "/switchboardd.log");
    std::string echo_port = echo.WaitFor("PORT ([0-9]+)", 20);
    std::string sbd_addr = sbd.WaitFor("\"grpc_address\":\"([^\"]+)\"", 20);
    if (echo_port.empty() || sbd_addr.empty()) {
      std::cerr << "sb_bench: a server did not start; logs in " << tmp << "\n";
      return 1;
    }
    const std::string echo_addr = "127.0.0.1:" + echo_port;

    utsname u{};
    uname(&u);
    std::cout << "## sb_bench all\n\n"
              << "- command: `" << CommandLine(argc, argv) << "`\n"
              << "- machine: " << std::thread::hardware_concurrency() << " cores, " << u.sysname << " " << u.release
              << "; client and servers share the machine\n"
              << "- load: " << concurrency << " calls outstanding over " << threads << " client threads, "
              << duration << " s per phase\n\n";

    std::cout << "### 1. Cheap read: bare callback echo server vs switchboardd GetBusEvent\n\n"
              << "| run | ops/s | p50 µs | p99 µs | ok | errors |\n|---|---|---|---|---|---|\n";
    // Alternate the two twice so that drift on a noisy machine hits both.
    sb::LoadResult e1 = RunKind("echo", echo_addr, threads, concurrency, duration / 2);
    sb::LoadResult g1 = RunKind("getbusevent", sbd_addr, threads, concurrency, duration / 2);
    sb::LoadResult e2 = RunKind("echo", echo_addr, threads, concurrency, duration / 2);
    sb::LoadResult g2 = RunKind("getbusevent", sbd_addr, threads, concurrency, duration / 2);
    PrintLoad("echo (baseline), pass 1", e1);
    PrintLoad("GetBusEvent, pass 1", g1);
    PrintLoad("echo (baseline), pass 2", e2);
    PrintLoad("GetBusEvent, pass 2", g2);
    double echo_tp = (e1.Throughput() + e2.Throughput()) / 2;
    double read_tp = (g1.Throughput() + g2.Throughput()) / 2;
    std::cout << "\nGetBusEvent / echo throughput: **" << Fmt(read_tp / echo_tp, 2) << "x** (target >= 0.80)\n\n";

    std::cout << "### 2. Durable writes: Publish (fsync before answering), " << concurrency
              << " concurrent clients\n\n"
              << "| run | ops/s | p50 µs | p99 µs | ok | errors |\n|---|---|---|---|---|---|\n";
    sb::LoadResult w = RunKind("publish", sbd_addr, threads, concurrency, duration);
    PrintLoad("Publish", w);
    std::cout << "\nTarget >= 10,000/s: **" << (w.Throughput() >= 10000 ? "met" : "not met") << "**\n\n";

    std::cout << "### 3. Watch fan-out: " << watchers << " watchers, one event at a time\n\n";
    sb::FanoutResult f = sb::RunFanout(sbd_addr, watchers, static_cast<int>(cli.GetInt("channels")),
                                       static_cast<int>(cli.GetInt("rounds")), sbd.pid());
    std::cout << "| watchers | rounds | delivered | p50 ms | p99 ms | max ms | server RSS idle before | after | "
                 "bytes per idle watcher |\n|---|---|---|---|---|---|---|---|---|\n"
              << "| " << f.watchers << " | " << f.rounds << " | " << f.delivered << "/" << f.expected << " | "
              << Fmt(f.Percentile(50), 1) << " | " << Fmt(f.Percentile(99), 1) << " | "
              << Fmt(f.latencies_ms.empty() ? 0 : f.latencies_ms.back(), 1) << " | " << f.rss_before / 1024
              << " KiB | " << f.rss_after / 1024 << " KiB | " << Fmt(f.BytesPerWatcher()) << " |\n\n";
    if (!f.error.empty()) {
      std::cout << "fan-out error: " << f.error << "\n\n";
      rc = 1;
    }
    std::cout << "Targets: p99 <= 250 ms: **" << (f.Percentile(99) <= 250 ? "met" : "not met")
              << "**; < 8 KB per idle watcher: **" << (f.BytesPerWatcher() < 8192 ? "met" : "not met") << "**\n";
    if (e1.errors + e2.errors + g1.errors + g2.errors + w.errors) rc = 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  RaiseFdLimit();
  switchboard::Cli cli("sb_bench",
                       "sb_bench COMMAND [flags]\n\n"
                       "Commands:\n"
                       "  read     unary read load: --kind=echo|getbusevent against --target\n"
                       "  write    durable Publish load against --target\n"
                       "  fanout   --watchers watch streams; one event at a time; delivery latency and memory\n"
                       "  all      starts sb_echo_server and switchboardd and runs the three comparisons side by side");
  cli.AddString("target", "127.0.0.1:50051", "Server for read/write/fanout.");
  cli.AddString("kind", "getbusevent", "read: echo or getbusevent.");
  cli.AddInt("duration_s", 10, "Seconds per load phase.");
  cli.AddInt("concurrency", 64, "Calls outstanding at once.");
  cli.AddInt("threads", 2, "Client threads (each with its own channel and completion queue).");
  cli.AddInt("watchers", 10000, "fanout: watch streams.");
  cli.AddInt("channels", 50, "fanout: channels (connections) the watchers are spread over.");
  cli.AddInt("rounds", 5, "fanout: events published, one at a time.");
  cli.AddInt("server_pid", 0, "fanout: pid of the server, to read its memory.");
  cli.AddString("switchboardd", "build/server/switchboardd", "all: the switchboardd binary.");
  cli.AddString("echo_server", "build/tools/bench/sb_echo_server", "all: the echo server binary.");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "sb_bench: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  if (cli.positionals().size() != 1) {
    std::cerr << "sb_bench: give one command: read, write, fanout or all (see --help)\n";
    return 2;
  }
  const std::string cmd = cli.positionals()[0];
  const double duration = static_cast<double>(cli.GetInt("duration_s"));
  const int concurrency = static_cast<int>(cli.GetInt("concurrency"));
  const int threads = static_cast<int>(cli.GetInt("threads"));
  if (cmd == "read" || cmd == "write") {
    std::string kind = cmd == "write" ? "publish" : cli.GetString("kind");
    auto r = RunKind(kind, cli.GetString("target"), threads, concurrency, duration);
    std::cout << "| run | ops/s | p50 µs | p99 µs | ok | errors |\n|---|---|---|---|---|---|\n";
    PrintLoad(kind, r);
    return r.errors ? 1 : 0;
  }
  if (cmd == "fanout") {
    auto r = sb::RunFanout(cli.GetString("target"), static_cast<int>(cli.GetInt("watchers")),
                           static_cast<int>(cli.GetInt("channels")), static_cast<int>(cli.GetInt("rounds")),
                           static_cast<pid_t>(cli.GetInt("server_pid")));
    std::cout << "watchers " << r.watchers << ", delivered " << r.delivered << "/" << r.expected << ", p50 "
              << Fmt(r.Percentile(50), 1) << " ms, p99 " << Fmt(r.Percentile(99), 1) << " ms, bytes/watcher "
              << Fmt(r.BytesPerWatcher()) << (r.error.empty() ? "" : ", error: " + r.error) << "\n";
    return r.error.empty() ? 0 : 1;
  }
  if (cmd == "all") return All(cli, argc, argv);
  std::cerr << "sb_bench: unknown command '" << cmd << "'; see --help\n";
  return 2;
}
