// sb_bench: Switchboard's load generator. The method and the figures are in
// docs/performance.md.

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

constexpr char kReadTargetUuid[] = "bench-read-target";

std::string RunId() { return std::to_string(std::chrono::system_clock::now().time_since_epoch().count()); }

std::string Fmt(double v, int prec = 0) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", prec, v);
  return buf;
}

using EchoSlot = sb::UnarySlot<switchboard::bench::Echo::Stub, switchboard::bench::EchoMessage,
                               switchboard::bench::EchoMessage, &switchboard::bench::Echo::Stub::PrepareAsyncEcho>;
using GetSlot = sb::UnarySlot<v1::NotificationService::Stub, v1::GetBusEventRequest, v1::BusEvent,
                              &v1::NotificationService::Stub::PrepareAsyncGetBusEvent>;
using PublishSlot = sb::UnarySlot<v1::NotificationService::Stub, v1::PublishRequest, v1::PublishResponse,
                                  &v1::NotificationService::Stub::PrepareAsyncPublish>;

// Publishes the one event that the read benchmark fetches over and over
// (idempotent: a second run finds it already there).
bool SeedReadTarget(const std::string& target) {
  auto stub = v1::NotificationService::NewStub(sb::NewChannel(target, 999999));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::PublishRequest req;
  req.set_request_id(kReadTargetUuid);
  auto* env = req.mutable_envelope();
  env->set_event_uuid(kReadTargetUuid);
  env->set_event_name("bench.read");
  env->mutable_event_creation_time()->set_seconds(1700000000);
  env->set_event_sender_id("sb_bench");
  (*env->mutable_data()->mutable_fields())["id"].set_string_value("12453");
  v1::PublishResponse resp;
  grpc::Status s = stub->Publish(&ctx, req, &resp);
  if (!s.ok()) std::cerr << "sb_bench: seeding the read target failed: " << s.error_message() << "\n";
  return s.ok();
}

struct Phase {
  std::string label;
  sb::LoadResult load;
  double server_cpu_s = 0;  // CPU the server used during the phase (0: unknown)
  double client_cpu_s = 0;  // CPU this process used during the phase
  double ServerCpuUsPerOp() const { return load.ok ? server_cpu_s * 1e6 / static_cast<double>(load.ok) : 0; }
  double ClientCpuUsPerOp() const { return load.ok ? client_cpu_s * 1e6 / static_cast<double>(load.ok) : 0; }
};

struct LoadSpec {
  std::string target;
  int threads = 2;
  int concurrency = 64;
  double duration_s = 10;
  pid_t server_pid = 0;
};

// kind: echo, getbusevent or publish.
Phase RunPhase(const std::string& label, const std::string& kind, const LoadSpec& spec) {
  Phase p;
  p.label = label;
  sb::SlotFactory factory;
  if (kind == "echo") {
    factory = [](const std::shared_ptr<grpc::Channel>& ch) {
      return std::make_unique<EchoSlot>(switchboard::bench::Echo::NewStub(ch),
                                        [](uint64_t, switchboard::bench::EchoMessage* m) {
                                          if (m->payload().empty()) m->set_payload(std::string("busEvents/") + kReadTargetUuid);
                                        });
    };
  } else if (kind == "getbusevent") {
    SeedReadTarget(spec.target);
    factory = [](const std::shared_ptr<grpc::Channel>& ch) {
      return std::make_unique<GetSlot>(v1::NotificationService::NewStub(ch), [](uint64_t, v1::GetBusEventRequest* r) {
        if (r->name().empty()) r->set_name(std::string("busEvents/") + kReadTargetUuid);
      });
    };
  } else {
    const std::string prefix = "bench-w-" + RunId() + "-";
    factory = [prefix](const std::shared_ptr<grpc::Channel>& ch) {
      return std::make_unique<PublishSlot>(v1::NotificationService::NewStub(ch), [prefix](uint64_t n,
                                                                                        v1::PublishRequest* r) {
        std::string uuid = prefix + std::to_string(n);  // unique per call: every call is a new event
        r->set_request_id(uuid);
        auto* env = r->mutable_envelope();
        env->set_event_uuid(uuid);
        env->set_event_name("bench.write");
        env->mutable_event_creation_time()->set_seconds(1700000000);
        env->set_event_sender_id("sb_bench");
        (*env->mutable_data()->mutable_fields())["n"].set_number_value(static_cast<double>(n));
      });
    };
  }
  double s0 = spec.server_pid > 0 ? sb::CpuSeconds(spec.server_pid) : 0;
  double c0 = sb::SelfCpuSeconds();
  p.load = sb::RunLoad(spec.target, spec.threads, spec.concurrency, spec.duration_s, factory);
  p.client_cpu_s = sb::SelfCpuSeconds() - c0;
  if (spec.server_pid > 0) p.server_cpu_s = sb::CpuSeconds(spec.server_pid) - s0;
  return p;
}

void PrintLoadHeader() {
  std::cout << "| run | ops/s | p50 µs | p99 µs | calls ok | errors | server CPU µs/op | client CPU µs/op |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|\n";
}

void PrintLoadRow(const Phase& p) {
  const auto& r = p.load;
  std::cout << "| " << p.label << " | " << Fmt(r.Throughput()) << " | " << Fmt(r.Percentile(50)) << " | "
            << Fmt(r.Percentile(99)) << " | " << r.ok << " | " << r.errors << " | "
            << (p.server_cpu_s > 0 ? Fmt(p.ServerCpuUsPerOp(), 1) : "-") << " | " << Fmt(p.ClientCpuUsPerOp(), 1)
            << " |\n";
}

void PrintLoadErrors(const Phase& p) {
  if (p.load.errors) std::cout << "\n" << p.label << ": first error: " << p.load.first_error << "\n";
}

double MaxOf(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); }

// One table over fan-out runs (e.g. the echo baseline and switchboardd).
void PrintFanout(const std::vector<std::pair<std::string, const sb::FanoutResult*>>& runs) {
  std::cout << "| server | watchers open | channels | rounds | deliveries | p50 ms | p99 ms | max ms | "
               "publish round trip ms (mean) | time to open all s |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& [label, f] : runs) {
    double pub = 0;
    for (double ms : f->publish_ms) pub += ms;
    if (!f->publish_ms.empty()) pub /= static_cast<double>(f->publish_ms.size());
    std::cout << "| " << label << " | " << f->opened << " / " << f->watchers << " | " << f->channels << " | "
              << f->rounds << " | " << f->delivered << " / " << f->expected << " | " << Fmt(f->Percentile(50), 1)
              << " | " << Fmt(f->Percentile(99), 1) << " | " << Fmt(MaxOf(f->latencies_ms), 1) << " | " << Fmt(pub, 1)
              << " | " << Fmt(f->open_seconds, 2) << " |\n";
  }
  std::cout << "\nCPU used during the rounds, per delivered event: ";
  for (size_t i = 0; i < runs.size(); ++i) {
    const sb::FanoutResult& f = *runs[i].second;
    double n = f.delivered > 0 ? static_cast<double>(f.delivered) : 1;
    std::cout << (i ? "; " : "") << runs[i].first << " server " << Fmt(f.server_cpu_s * 1e6 / n, 1)
              << " µs + client " << Fmt(f.client_cpu_s * 1e6 / n, 1) << " µs";
  }
  std::cout << ".\n";
  std::cout << "\nPer round, until the last watcher had the event (ms):\n\n";
  for (const auto& [label, f] : runs) {
    std::cout << "- " << label << ":";
    for (double ms : f->round_max_ms) std::cout << " " << Fmt(ms, 1);
    std::cout << "\n";
  }
  std::cout << "\n| server VmRSS, KiB |";
  for (const auto& run : runs) std::cout << " " << run.first << " |";
  std::cout << "\n|---|";
  for (size_t i = 0; i < runs.size(); ++i) std::cout << "---:|";
  auto row = [&](const std::string& what, auto get) {
    std::cout << "\n| " << what << " |";
    for (const auto& run : runs) std::cout << " " << get(*run.second) << " |";
  };
  row("idle, warmed up", [](const sb::FanoutResult& f) { return std::to_string(f.rss_before / 1024); });
  row("+ idle connections", [](const sb::FanoutResult& f) { return std::to_string(f.rss_connected / 1024); });
  row("+ idle watch streams", [](const sb::FanoutResult& f) { return std::to_string(f.rss_after / 1024); });
  row("**bytes per idle stream**", [](const sb::FanoutResult& f) { return "**" + Fmt(f.BytesPerWatcher()) + "**"; });
  row("bytes per idle stream, connections included",
      [](const sb::FanoutResult& f) { return Fmt(f.BytesPerWatcherWithConnections()); });
  std::cout << "\n\n";
  for (const auto& [label, f] : runs) {
    std::cout << "- " << label << ": at the end " << f->cancelled << " streams ended CANCELLED when cancelled, "
              << f->other_end << " otherwise"
              << (f->first_other_status.empty() ? "" : " (first: " + f->first_other_status + ")") << ".\n";
    if (!f->error.empty()) std::cout << "- **" << label << " fan-out error:** " << f->error << "\n";
  }
}

void RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string ShellQuote(const std::string& s) {
  if (s.find_first_of(" '\"$\\") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Join(const std::vector<std::string>& words) {
  std::string s;
  for (size_t i = 0; i < words.size(); ++i) s += (i ? " " : "") + ShellQuote(words[i]);
  return s;
}

std::string CommandLine(int argc, char** argv) { return Join(std::vector<std::string>(argv, argv + argc)); }

std::string FirstLineWith(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

void PrintMachine() {
  utsname u{};
  uname(&u);
  std::string model = sb::Extract(FirstLineWith("/proc/cpuinfo", "model name"), ":\\s*(.*)");
  std::string mem = sb::Extract(FirstLineWith("/proc/meminfo", "MemTotal"), ":\\s*([0-9]+)");
  std::string load = FirstLineWith("/proc/loadavg", "");
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  std::cout << "- machine: nproc " << sysconf(_SC_NPROCESSORS_ONLN) << " (" << (model.empty() ? "unknown CPU" : model)
            << "), " << (mem.empty() ? "?" : std::to_string(std::stoll(mem) / 1024)) << " MiB RAM, " << u.sysname
            << " " << u.release << " " << u.machine << "\n"
            << "- load average at start: " << load << " (the client and both servers share these cores)\n"
            << "- gRPC " << grpc::Version() << "; RLIMIT_NOFILE " << rl.rlim_cur
            << " (raised to the hard limit; the servers inherit it)\n";
}

std::vector<std::string> SplitWords(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

int All(const switchboard::Cli& cli, int argc, char** argv) {
  const double duration = static_cast<double>(cli.GetInt("duration_s"));
  LoadSpec spec;
  spec.threads = static_cast<int>(cli.GetInt("threads"));
  spec.concurrency = static_cast<int>(cli.GetInt("concurrency"));
  const int watchers = static_cast<int>(cli.GetInt("watchers"));
  const std::string tmp = std::filesystem::temp_directory_path().string() + "/sb-bench-" + RunId();
  std::filesystem::create_directories(tmp);
  int rc = 0;
  bool keep_tmp = false;
  {
    sb::ChildProcess echo({cli.GetString("echo_server"), "--address=127.0.0.1:0"}, tmp + "/echo.log");
    std::vector<std::string> sbd_argv = {cli.GetString("switchboardd"), "--data_dir=" + tmp + "/data",
                                         "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0"};
    for (auto& f : SplitWords(cli.GetString("server_flags"))) sbd_argv.push_back(f);
    sb::ChildProcess sbd(sbd_argv, tmp + "/switchboardd.log");
    const std::string echo_port = sb::Extract(echo.WaitForLine("PORT ", 20), "PORT ([0-9]+)");
    const std::string serving = sbd.WaitForLine("\"msg\":\"serving\"", 30);
    const std::string sbd_addr = sb::Extract(serving, "\"grpc_address\":\"([^\"]+)\"");
    const std::string http_addr = sb::Extract(serving, "\"http_address\":\"([^\"]+)\"");
    if (echo_port.empty() || sbd_addr.empty()) {
      std::cerr << "sb_bench: a server did not start; logs kept in " << tmp << "\n"
                << "--- switchboardd log tail:\n"
                << sbd.LogTail(2000) << "\n--- echo log tail:\n"
                << echo.LogTail(2000) << "\n";
      return 1;
    }
    const std::string echo_addr = "127.0.0.1:" + echo_port;

    std::cout << "## sb_bench all\n\n- command: `" << CommandLine(argc, argv) << "`\n";
    PrintMachine();
    std::cout << "- switchboardd: `" << Join(sbd_argv)
              << "` (temporary data directory, removed afterwards)\n"
              << "- load: closed loop, " << spec.concurrency << " calls outstanding over " << spec.threads
              << " client threads (one channel and completion queue each)\n\n";

    // 1. Reads. Alternate the two servers twice so that drift on a shared
    // machine hits both the same.
    std::cout << "### 1. Cheap read: bare callback echo server vs switchboardd GetBusEvent\n\n"
              << "Two passes of " << Fmt(duration / 2, 1) << " s each, alternating.\n\n";
    spec.duration_s = duration / 2;
    LoadSpec echo_spec = spec, sbd_spec = spec;
    echo_spec.target = echo_addr;
    echo_spec.server_pid = echo.pid();
    sbd_spec.target = sbd_addr;
    sbd_spec.server_pid = sbd.pid();
    std::vector<Phase> reads;
    reads.push_back(RunPhase("echo (baseline), pass 1", "echo", echo_spec));
    reads.push_back(RunPhase("GetBusEvent, pass 1", "getbusevent", sbd_spec));
    reads.push_back(RunPhase("echo (baseline), pass 2", "echo", echo_spec));
    reads.push_back(RunPhase("GetBusEvent, pass 2", "getbusevent", sbd_spec));
    PrintLoadHeader();
    for (auto& p : reads) PrintLoadRow(p);
    for (auto& p : reads) PrintLoadErrors(p);
    const double echo_tp = (reads[0].load.Throughput() + reads[2].load.Throughput()) / 2;
    const double read_tp = (reads[1].load.Throughput() + reads[3].load.Throughput()) / 2;
    const double ratio = echo_tp > 0 ? read_tp / echo_tp : 0;
    std::cout << "\nMean throughput: echo " << Fmt(echo_tp) << "/s, GetBusEvent " << Fmt(read_tp)
              << "/s; ratio **" << Fmt(ratio, 3) << "** (target >= 0.80)\n\n";

    // 2. Durable writes.
    std::cout << "### 2. Durable writes: Publish (answered after fsync), " << spec.concurrency
              << " concurrent callers, " << Fmt(duration, 0) << " s\n\n";
    const std::string m0 = http_addr.empty() ? "" : sb::HttpGet(http_addr, "/metrics");
    sbd_spec.duration_s = duration;
    Phase w = RunPhase("Publish", "publish", sbd_spec);
    const std::string m1 = http_addr.empty() ? "" : sb::HttpGet(http_addr, "/metrics");
    PrintLoadHeader();
    PrintLoadRow(w);
    PrintLoadErrors(w);
    const double tx = sb::MetricValue(m1, "switchboard_store_transactions") -
                      sb::MetricValue(m0, "switchboard_store_transactions");
    const double mu = sb::MetricValue(m1, "switchboard_store_mutations") -
                      sb::MetricValue(m0, "switchboard_store_mutations");
    if (!m0.empty() && !m1.empty() && tx > 0) {
      std::cout << "\nStore, from /metrics: " << Fmt(tx) << " transactions (one fsync each) for " << Fmt(mu)
                << " mutations: " << Fmt(mu / tx, 1) << " per commit, " << Fmt(tx / w.load.seconds)
                << " commits/s.\n";
    }
    std::cout << "\n";

    // 3. Fan-out.
    std::cout << "### 3. Watch fan-out: " << watchers << " idle WatchEvents streams, then one event at a time\n\n";
    std::cout << "The same client against sb_echo_server (Hold streams, a Broadcast RPC as the event, nothing "
                 "durable) gives bare gRPC's floor. Delivery latency runs from sending the Publish (or Broadcast) "
                 "until the watcher's Read completes, so switchboardd's figures include the durable commit.\n\n";
    sb::FanoutOptions fo;
    fo.watchers = watchers;
    fo.channels = static_cast<int>(cli.GetInt("channels"));
    fo.rounds = static_cast<int>(cli.GetInt("rounds"));
    fo.threads = static_cast<int>(cli.GetInt("fanout_threads"));
    sb::FanoutOptions echo_fo = fo;
    echo_fo.target = echo_addr;
    echo_fo.server_pid = echo.pid();
    echo_fo.echo_baseline = true;
    sb::FanoutResult fe = sb::RunFanout(echo_fo);
    fo.target = sbd_addr;
    fo.server_pid = sbd.pid();
    // WatchMany first: after 10,000 streams the server's heap keeps their
    // freed memory, and the small per-watch cost would hide in it.
    sb::FanoutResult fm = sb::RunFanoutMany(fo);
    sb::FanoutResult f = sb::RunFanout(fo);
    PrintFanout({{"echo (baseline)", &fe}, {"switchboardd WatchEvents", &f}, {"switchboardd WatchMany", &fm}});
    std::cout << "\nWatchMany: the same " << watchers << " watchers as watches on " << fo.channels
              << " WatchMany streams (one per connection; \"bytes per idle stream\" is per watch there).\n";

    const std::string echo_exit = echo.Stop();
    const std::string sbd_exit = sbd.Stop();
    std::cout << "\nServers stopped with SIGTERM: sb_echo_server " << echo_exit << ", switchboardd " << sbd_exit
              << ". Load average at the end: " << FirstLineWith("/proc/loadavg", "")
              << " (above ~1.5 other work shared the cores; compare with the start).\n\n";

    const bool read_ok = ratio >= 0.8;
    const bool write_ok = w.load.Throughput() >= 10000;
    const bool p99_ok = f.error.empty() && f.Percentile(99) <= 250;
    const bool mem_ok = f.rss_after > 0 && f.BytesPerWatcher() < 8192;
    const bool many_p99_ok = fm.error.empty() && fm.Percentile(99) <= 250;
    const bool many_mem_ok = fm.rss_after > 0 && fm.BytesPerWatcher() < 8192;
    auto verdict = [](bool ok) { return ok ? "met" : "**not met**"; };
    std::cout << "### Summary\n\n| target | measured | verdict |\n|---|---|---|\n"
              << "| GetBusEvent >= 0.8x echo throughput | " << Fmt(ratio, 3) << "x (" << Fmt(read_tp) << " vs "
              << Fmt(echo_tp) << " /s) | " << verdict(read_ok) << " |\n"
              << "| Publish >= 10,000/s at " << spec.concurrency << " callers | " << Fmt(w.load.Throughput())
              << "/s, p50 " << Fmt(w.load.Percentile(50) / 1000, 1) << " ms, p99 "
              << Fmt(w.load.Percentile(99) / 1000, 1) << " ms | " << verdict(write_ok) << " |\n"
              << "| fan-out p99 <= 250 ms at " << watchers << " watchers | p50 " << Fmt(f.Percentile(50), 1)
              << " ms, p99 " << Fmt(f.Percentile(99), 1) << " ms, max "
              << Fmt(MaxOf(f.latencies_ms), 1) << " ms (echo baseline: p99 " << Fmt(fe.Percentile(99), 1)
              << " ms) | " << verdict(p99_ok) << " |\n"
              << "| < 8 KB per idle watcher | " << Fmt(f.BytesPerWatcher()) << " B (echo baseline: "
              << Fmt(fe.BytesPerWatcher()) << " B) | " << verdict(mem_ok) << " |\n"
              << "| fan-out p99 <= 250 ms, " << watchers << " watches on WatchMany | p50 " << Fmt(fm.Percentile(50), 1)
              << " ms, p99 " << Fmt(fm.Percentile(99), 1) << " ms, max " << Fmt(MaxOf(fm.latencies_ms), 1) << " ms | "
              << verdict(many_p99_ok) << " |\n"
              << "| < 8 KB per idle watch on WatchMany | " << Fmt(fm.BytesPerWatcher()) << " B | "
              << verdict(many_mem_ok) << " |\n";
    const uint64_t errors = reads[0].load.errors + reads[1].load.errors + reads[2].load.errors +
                            reads[3].load.errors + w.load.errors;
    if (errors || !f.error.empty() || !fe.error.empty() || !fm.error.empty()) {
      rc = 1;
      keep_tmp = true;
      std::cout << "\nErrors occurred; server logs kept in " << tmp << "\n";
    }
  }
  if (!keep_tmp) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  RaiseFdLimit();
  switchboard::Cli cli("sb_bench",
                       "sb_bench COMMAND [flags]\n\n"
                       "Commands:\n"
                       "  read     closed-loop unary reads against --target: --kind=echo (sb_echo_server) or\n"
                       "           getbusevent (switchboardd GetBusEvent of one seeded event)\n"
                       "  write    closed-loop durable Publish calls against --target, each a new event\n"
                       "  fanout   --watchers WatchEvents streams over --channels connections; memory per idle\n"
                       "           watcher (with --server_pid) and delivery latency, one event at a time;\n"
                       "           --kind=echo runs the same against sb_echo_server (the gRPC floor),\n"
                       "           --kind=many as watches on one WatchMany stream per connection\n"
                       "  all      starts sb_echo_server and switchboardd on free loopback ports, runs the\n"
                       "           three comparisons side by side, stops both, prints a Markdown report");
  cli.AddString("target", "", "read/write/fanout: the server, HOST:PORT.");
  cli.AddString("kind", "getbusevent",
                "read: echo or getbusevent; fanout: echo (sb_echo_server Hold/Broadcast), many (watches on WatchMany "
                "streams, one per channel) or anything else "
                "(switchboardd WatchEvents/Publish).");
  cli.AddInt("duration_s", 10, "Seconds of load (read/write); all: per comparison, the read passes share it.");
  cli.AddInt("concurrency", 64, "Calls outstanding at once.");
  cli.AddInt("threads", 2, "Client threads for read/write (each with its own channel and completion queue).");
  cli.AddInt("watchers", 10000, "fanout: watch streams.");
  cli.AddInt("channels", 50, "fanout: channels (TCP connections) the watchers are spread over.");
  cli.AddInt("rounds", 5, "fanout: events published, one at a time.");
  cli.AddInt("fanout_threads", 2, "fanout: client threads reading the streams.");
  cli.AddInt("server_pid", 0, "fanout/read/write: pid of the server, for its memory (VmRSS) and CPU time.");
  cli.AddString("switchboardd", "build/server/switchboardd", "all: the switchboardd binary.");
  cli.AddString("echo_server", "build/tools/bench/sb_echo_server", "all: the sb_echo_server binary.");
  cli.AddString("server_flags", "", "all: extra switchboardd flags, space-separated (e.g. --watch_max_lag=1000).");
  cli.SetEpilog(
      "Every load loop is bounded by --duration_s (plus a 30 s drain) and every wait has a deadline.\n"
      "RLIMIT_NOFILE is raised to the hard limit at start; servers started by `all` inherit it.");
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
  if (cmd == "all") return All(cli, argc, argv);
  if (cmd != "read" && cmd != "write" && cmd != "fanout") {
    std::cerr << "sb_bench: unknown command '" << cmd << "'; see --help\n";
    return 2;
  }
  if (cli.GetString("target").empty()) {
    std::cerr << "sb_bench: " << cmd << " needs --target=HOST:PORT\n";
    return 2;
  }
  const pid_t pid = static_cast<pid_t>(cli.GetInt("server_pid"));
  if (cmd == "fanout") {
    sb::FanoutOptions fo;
    fo.target = cli.GetString("target");
    fo.watchers = static_cast<int>(cli.GetInt("watchers"));
    fo.channels = static_cast<int>(cli.GetInt("channels"));
    fo.rounds = static_cast<int>(cli.GetInt("rounds"));
    fo.threads = static_cast<int>(cli.GetInt("fanout_threads"));
    fo.server_pid = pid;
    fo.echo_baseline = cli.GetString("kind") == "echo";
    const bool many = cli.GetString("kind") == "many";
    sb::FanoutResult f = many ? sb::RunFanoutMany(fo) : sb::RunFanout(fo);
    PrintFanout({{fo.echo_baseline ? "echo (baseline)" : many ? "switchboardd WatchMany" : "switchboardd", &f}});
    return f.error.empty() ? 0 : 1;
  }
  std::string kind = cmd == "write" ? "publish" : cli.GetString("kind");
  if (kind != "echo" && kind != "getbusevent" && kind != "publish") {
    std::cerr << "sb_bench: --kind must be echo or getbusevent\n";
    return 2;
  }
  LoadSpec spec;
  spec.target = cli.GetString("target");
  spec.threads = static_cast<int>(cli.GetInt("threads"));
  spec.concurrency = static_cast<int>(cli.GetInt("concurrency"));
  spec.duration_s = static_cast<double>(cli.GetInt("duration_s"));
  spec.server_pid = pid;
  Phase p = RunPhase(kind, kind, spec);
  PrintLoadHeader();
  PrintLoadRow(p);
  PrintLoadErrors(p);
  return p.load.errors ? 1 : 0;
}
