// sb_bench_scaleout: issue 22's measurements in one run, side by side
// (docs/scale-out.md): Publish with 64 callers on SQLite, on PostgreSQL and
// on three PostgreSQL replicas; watch latency from a commit on one replica
// to a watcher on another, with NOTIFY and poll-only; and failover after a
// kill -9. Every switchboardd is a child process on free loopback ports, on
// a data dir and a PostgreSQL schema of its own. Prints a Markdown report.

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "common/cli.h"
#include "load.h"
#include "process.h"
#include "scaleout.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace sb = switchboard::bench;
namespace v1 = switchboard::v1;

namespace {

using PublishSlot = sb::UnarySlot<v1::NotificationService::Stub, v1::PublishRequest, v1::PublishResponse,
                                  &v1::NotificationService::Stub::PrepareAsyncPublish>;

std::string Fmt(double v, int prec = 0) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", prec, v);
  return buf;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The first line of `cmd`'s output, or "".
std::string Run(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    if (fgets(buf, sizeof(buf), p)) out = buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string FirstLineWith(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

void PrintMachine(sb::PgSession* db) {
  utsname u{};
  uname(&u);
  const std::string model = sb::Extract(FirstLineWith("/proc/cpuinfo", "model name"), ":\\s*(.*)");
  const std::string mem = sb::Extract(FirstLineWith("/proc/meminfo", "MemTotal"), ":\\s*([0-9]+)");
  std::cout << "- machine: nproc " << sysconf(_SC_NPROCESSORS_ONLN) << " (" << (model.empty() ? "unknown CPU" : model)
            << "), " << (mem.empty() ? "?" : std::to_string(std::stoll(mem) / 1024)) << " MiB RAM, " << u.sysname << " "
            << u.release << " " << u.machine << "\n"
            << "- load average at start: " << FirstLineWith("/proc/loadavg", "")
            << " (the client, every switchboardd and PostgreSQL share these cores)\n"
            << "- gRPC " << grpc::Version() << "\n";
  if (db != nullptr) {
    auto v = db->Query("SELECT version(), current_setting('fsync'), current_setting('synchronous_commit')");
    if (v && !v->empty()) {
      std::cout << "- PostgreSQL: " << (*v)[0][0] << "; fsync " << (*v)[0][1] << ", synchronous_commit " << (*v)[0][2]
                << "\n";
    }
  }
}

std::string ShellQuote(const std::string& s) {
  if (s.find_first_of(" '\"$\\&?;") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Options {
  int duration_s = 10;
  int concurrency = 64;
  int threads = 3;
  double watch_rate = 200;
  int watch_s = 5;
  sb::FailoverOptions failover;
  bool keep_schemas = false;
};

// --- 1. Publish ------------------------------------------------------------

struct PublishRun {
  std::string label, what;
  int replicas = 0;
  bool postgres = false;
  std::string error;
  sb::LoadResult load;
  double server_cpu_s = 0;
  double pg_cpu_s = -1;                                // -1: not measured
  double tx = -1, mu = -1;                             // /metrics deltas over the load
  double locked_tx = -1, locked_mu = -1, hold_s = -1;  // the same, when /metrics has them
  sb::StoreCloseStats closed;                          // the "store closed" log lines: the whole life
  double Ops() const { return load.Throughput(); }
  double CpuPerOp(double s) const { return load.ok ? s * 1e6 / static_cast<double>(load.ok) : 0; }
};

void Merge(sb::LoadResult* total, const sb::LoadResult& r) {
  total->seconds = std::max(total->seconds, r.seconds);
  total->ok += r.ok;
  total->errors += r.errors;
  if (total->first_error.empty()) total->first_error = r.first_error;
  total->latencies_us.insert(total->latencies_us.end(), r.latencies_us.begin(), r.latencies_us.end());
}

void DropSchema(sb::PgSession* db, const std::string& schema, const Options& o) {
  if (db == nullptr || o.keep_schemas) return;
  if (!db->Query("DROP SCHEMA IF EXISTS " + schema + " CASCADE")) {
    std::cerr << "sb_bench_scaleout: dropping schema " << schema << " failed: " << db->error() << "\n";
  }
}

PublishRun RunPublish(const sb::Environment& env, sb::PgSession* db, const std::string& label, const std::string& what,
                      sb::StoreSpec store, int replicas, const Options& o) {
  PublishRun run;
  run.label = label;
  run.what = what;
  run.replicas = replicas;
  run.postgres = store.postgres;
  sb::Deployment d(env, label, store);
  if (!d.Start(replicas, &run.error)) {
    d.StopAll();
    if (store.postgres) DropSchema(db, store.schema, o);
    return run;
  }
  auto metric = [&](const char* name) { return sb::SumMetric(d.replicas(), name); };
  const double tx0 = metric("switchboard_store_transactions"), mu0 = metric("switchboard_store_mutations");
  const double ltx0 = metric("switchboard_store_locked_transactions");
  const double lmu0 = metric("switchboard_store_locked_mutations");
  const double hold0 = metric("switchboard_store_lock_hold_seconds");
  std::unique_ptr<sb::PgCpu> pg_cpu;
  if (store.postgres && db != nullptr) pg_cpu = std::make_unique<sb::PgCpu>(*db, store.schema);
  const double cpu0 = d.CpuSeconds();

  // The callers, spread evenly over the replicas; each replica's share of
  // the client threads has its own channels.
  std::vector<sb::LoadResult> results(replicas);
  std::vector<std::thread> loads;
  const std::string prefix = "sbsc-" + label + "-" + std::to_string(std::time(nullptr)) + "-";
  for (int i = 0; i < replicas; ++i) {
    const int conc = o.concurrency / replicas + (i < o.concurrency % replicas ? 1 : 0);
    const int threads = std::max(1, o.threads / replicas + (i < o.threads % replicas ? 1 : 0));
    loads.emplace_back([&, i, conc, threads] {
      const std::string p = prefix + std::to_string(i) + "-";
      results[i] =
          sb::RunLoad(d.replicas()[i].grpc, threads, conc, o.duration_s, [p](const std::shared_ptr<grpc::Channel>& ch) {
            return std::make_unique<PublishSlot>(
                v1::NotificationService::NewStub(ch), [p](uint64_t n, v1::PublishRequest* r) {
                  const std::string uuid = p + std::to_string(n);
                  r->set_request_id(uuid);
                  auto* env = r->mutable_envelope();
                  env->set_event_uuid(uuid);
                  env->set_event_name("bench.scaleout.write");
                  env->mutable_event_creation_time()->set_seconds(1700000000);
                  env->set_event_sender_id("sb_bench_scaleout");
                  (*env->mutable_data()->mutable_fields())["n"].set_number_value(static_cast<double>(n));
                });
          });
    });
  }
  for (auto& t : loads) t.join();
  run.server_cpu_s = d.CpuSeconds() - cpu0;
  if (pg_cpu && pg_cpu->ok()) run.pg_cpu_s = pg_cpu->Elapsed();
  for (const auto& r : results) Merge(&run.load, r);
  std::sort(run.load.latencies_us.begin(), run.load.latencies_us.end());
  auto delta = [&](const char* name, double before) {
    const double after = metric(name);
    return before >= 0 && after >= 0 ? after - before : -1.0;
  };
  run.tx = delta("switchboard_store_transactions", tx0);
  run.mu = delta("switchboard_store_mutations", mu0);
  run.locked_tx = delta("switchboard_store_locked_transactions", ltx0);
  run.locked_mu = delta("switchboard_store_locked_mutations", lmu0);
  run.hold_s = delta("switchboard_store_lock_hold_seconds", hold0);
  run.closed = d.StopAll();
  if (store.postgres) DropSchema(db, store.schema, o);
  return run;
}

std::string LockCell(const PublishRun& r) {
  if (!r.postgres) return "- (no shared lock)";
  if (r.locked_tx > 0 && r.hold_s >= 0) {
    return Fmt(r.locked_mu / r.locked_tx, 1) + " per hold, mean " + Fmt(r.hold_s * 1e6 / r.locked_tx) +
           " µs (/metrics, this load)";
  }
  const auto& c = r.closed;
  if (!c.found || c.locked_transactions <= 0) return "not exposed";
  return Fmt(c.locked_mutations / c.locked_transactions, 1) + " per hold, mean " +
         Fmt(c.lock_hold_us / c.locked_transactions) + " µs, max " + Fmt(c.lock_hold_max_us) + " µs (" +
         Fmt(c.locked_transactions) + " holds; log at stop, whole run)";
}

void PrintPublish(const std::vector<PublishRun>& runs, const Options& o) {
  std::cout << "| store | replicas | ops/s | p50 ms | p99 ms | calls ok | errors | switchboardd CPU µs/op | "
               "PostgreSQL CPU µs/op | mutations per transaction | counter lock: mutations per hold, hold time |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const PublishRun& r : runs) {
    if (!r.error.empty()) {
      std::cout << "| " << r.what << " | " << r.replicas << " | did not run | | | | | | | | |\n";
      continue;
    }
    std::cout << "| " << r.what << " | " << r.replicas << " | " << Fmt(r.Ops()) << " | "
              << Fmt(r.load.Percentile(50) / 1000, 2) << " | " << Fmt(r.load.Percentile(99) / 1000, 2) << " | "
              << r.load.ok << " | " << r.load.errors << " | " << Fmt(r.CpuPerOp(r.server_cpu_s), 1) << " | "
              << (r.pg_cpu_s >= 0 ? Fmt(r.CpuPerOp(r.pg_cpu_s), 1) : "-") << " | "
              << (r.tx > 0 ? Fmt(r.mu / r.tx, 1) : "-") << " | " << LockCell(r) << " |\n";
  }
  for (const PublishRun& r : runs) {
    if (!r.error.empty()) std::cout << "\n**" << r.what << " did not run:** " << r.error << "\n";
    if (r.load.errors) std::cout << "\n" << r.what << ": first error: " << r.load.first_error << "\n";
  }
  const PublishRun* sqlite = runs.empty() ? nullptr : &runs[0];
  if (sqlite != nullptr && sqlite->error.empty() && sqlite->Ops() > 0) {
    std::cout << "\nAgainst SQLite (one replica):";
    for (size_t i = 1; i < runs.size(); ++i) {
      const PublishRun& r = runs[i];
      if (!r.error.empty()) continue;
      const double cpu = r.server_cpu_s + std::max(0.0, r.pg_cpu_s);
      std::cout << (i > 1 ? ";" : "") << " " << r.what << " " << Fmt(r.Ops() / sqlite->Ops(), 2) << "x the ops/s, "
                << Fmt(r.CpuPerOp(cpu) / std::max(1e-9, sqlite->CpuPerOp(sqlite->server_cpu_s)), 2)
                << "x the CPU per op (switchboardd + PostgreSQL)";
    }
    std::cout << ".\n";
  }
  std::cout << "\n"
            << o.concurrency << " Publish calls outstanding for " << o.duration_s
            << " s, each a new event (unique request_id and event_uuid), answered once durable; on three replicas "
               "the callers are spread evenly (one closed loop per replica, run at once) and the CPU is the sum "
               "of the three processes. PostgreSQL CPU: the backends of the deployment's sessions and the "
               "server's background processes (WAL writer, checkpointer...), from /proc. Mutations per "
               "transaction: `switchboard_store_mutations` / `_transactions` from /metrics over the load (on "
               "PostgreSQL both writers' transactions, job claims included). The counter lock (taken by every "
               "batch that appends events): its hold runs from the lock granted to the COMMIT's answer.\n\n";
}

// --- 2. Watch latency ------------------------------------------------------

struct WatchRun {
  bool listen = true;
  std::string error;
  sb::WatchResult r;
};

WatchRun RunWatch(const sb::Environment& env, sb::PgSession* db, const std::string& label, bool listen,
                  const std::string& schema, const Options& o) {
  WatchRun run;
  run.listen = listen;
  sb::StoreSpec store;
  store.postgres = true;
  store.schema = schema;
  store.listen = listen;
  sb::Deployment d(env, label, store);
  if (!d.Start(2, &run.error)) {
    d.StopAll();
    DropSchema(db, schema, o);
    return run;
  }
  run.r = sb::RunWatchLatency(d.replicas()[0].grpc, d.replicas()[1].grpc, d.replicas()[1].http, o.watch_rate, o.watch_s,
                              /*drain_s=*/5.0);
  run.error = run.r.error;
  d.StopAll();
  DropSchema(db, schema, o);
  return run;
}

void PrintWatch(const std::vector<WatchRun>& runs, const Options& o) {
  std::cout << "| tailer | published on A | received on B | before A's answer | from A's answer p50 / p99 / max ms "
               "| from the send p50 / p99 / max ms |\n|---|---:|---:|---:|---|---|\n";
  for (const WatchRun& w : runs) {
    const auto& r = w.r;
    auto three = [&](const std::vector<double>& v) {
      return Fmt(r.Percentile(v, 50), 2) + " / " + Fmt(r.Percentile(v, 99), 2) + " / " +
             Fmt(v.empty() ? 0 : v.back(), 2);
    };
    std::cout << "| " << (w.listen ? "NOTIFY (LISTEN on)" : "poll only (`store_listen: false`)") << " | " << r.published
              << " | " << r.received << " | " << r.early << " | " << three(r.from_return_ms) << " | "
              << three(r.from_send_ms) << " |\n";
  }
  for (const WatchRun& w : runs) {
    if (!w.error.empty()) std::cout << "\n**" << (w.listen ? "NOTIFY" : "poll only") << ":** " << w.error << "\n";
  }
  std::cout << "\nTwo replicas on one schema (a fresh one per row). A `WatchEvents` from the head on replica B; "
               "four publishers on replica A, "
            << Fmt(o.watch_rate) << " Publish/s in all for " << o.watch_s
            << " s (each event due at start + i / rate). Latency: B's Read of the event minus the moment A's "
               "Publish returned OK (durable, and delivered on A); \"from the send\" counts the commit too. An "
               "event B has before A's answer counts as a negative latency.\n\n";
}

// --- 3. Failover -------------------------------------------------------------

void PrintFailover(const sb::FailoverResult& f, const sb::Deployment* d, const Options& o) {
  auto secs = [](double s) { return s < 0 ? std::string("not within the timeout") : Fmt(s, 2) + " s"; };
  if (f.victim >= 0 && d != nullptr) {
    std::cout << "- victim: replica " << f.victim + 1 << " of 3 (pid " << f.victim_pid << "), holder of `"
              << f.role_kind << "`, killed with SIGKILL right after it accepted " << f.accepted << " of "
              << o.failover.operations << " CreateContainer operations (Azurite, `return_when_accepted`, "
              << "`media.workers` 1 on every replica)\n"
              << "- its media jobs unfinished at the kill: " << f.unfinished_at_kill << " (" << f.held_by_victim
              << " leased to it)\n"
              << "- `" << f.role_kind << "` leased by another replica after: " << secs(f.role_taken_s) << "\n";
    if (f.unfinished_at_kill > 0) {
      std::cout << "- first of those jobs claimed (or finished) by another replica after: " << secs(f.first_taken_s)
                << "\n- half of them finished after: " << secs(f.half_done_s)
                << "\n- all of them finished after: " << secs(f.all_done_s) << " (" << f.done << " DONE, " << f.failed
                << " FAILED)\n- their operations, by GetOperation on a surviving replica at the end: "
                << f.ops_succeeded << " SUCCEEDED, " << f.ops_failed << " FAILED, " << f.ops_other
                << " in another state, " << f.ops_unknown << " not answered\n";
    }
  }
  for (const auto& n : f.notes) std::cout << "- note: " << n << "\n";
  if (!f.error.empty()) std::cout << "- **error:** " << f.error << "\n";
  std::cout << "\nTimes run from the kill, polled every 100 ms in the schema's `jobs` table (timeout "
            << Fmt(o.failover.timeout_s) << " s).\n\n";
}

int Main(const switchboard::Cli& cli, int argc, char** argv) {
  Options o;
  o.duration_s = static_cast<int>(cli.GetInt("duration_s"));
  o.concurrency = static_cast<int>(cli.GetInt("concurrency"));
  o.threads = static_cast<int>(cli.GetInt("threads"));
  o.watch_rate = static_cast<double>(cli.GetInt("watch_rate"));
  o.watch_s = static_cast<int>(cli.GetInt("watch_s"));
  o.failover.operations = static_cast<int>(cli.GetInt("failover_operations"));
  o.failover.timeout_s = static_cast<double>(cli.GetInt("failover_timeout_s"));
  o.keep_schemas = cli.GetBool("keep_schemas");
  std::set<std::string> phases;
  {
    std::stringstream in(cli.GetString("phases"));
    for (std::string p; std::getline(in, p, ',');) {
      if (p != "publish" && p != "watch" && p != "failover") {
        std::cerr << "sb_bench_scaleout: unknown phase '" << p << "'; give publish, watch and/or failover\n";
        return 2;
      }
      phases.insert(p);
    }
  }
  if (o.duration_s < 1 || o.concurrency < 1 || o.threads < 1 || o.watch_rate <= 0 || o.watch_s < 1 ||
      o.failover.operations < 0 || o.failover.timeout_s < 1) {
    std::cerr << "sb_bench_scaleout: durations, rates, --concurrency and --threads must be positive\n";
    return 2;
  }

  sb::Environment env;
  env.switchboardd = cli.GetString("switchboardd");
  env.pg_url = cli.GetString("pg_url");
  env.azurite_account = Env("SWITCHBOARD_TEST_AZURITE_ACCOUNT");
  env.azurite_blob = Env("SWITCHBOARD_TEST_AZURITE_BLOB");
  env.azurite_key = Env("SWITCHBOARD_TEST_AZURITE_KEY");
  if (env.pg_url.empty()) {
    std::cerr << "sb_bench_scaleout: every phase needs PostgreSQL: give --pg_url or set SWITCHBOARD_TEST_PG_URL "
                 "(tools/pg.sh start; eval \"$(tools/pg.sh env)\", or tools/services.sh for Azurite too)\n";
    return 2;
  }
  if (access(env.switchboardd.c_str(), X_OK) != 0) {
    std::cerr << "sb_bench_scaleout: --switchboardd=" << env.switchboardd << " is not an executable\n";
    return 2;
  }
  sb::PgSession db(env.pg_url);
  if (!db.ok()) {
    std::cerr << "sb_bench_scaleout: cannot connect to --pg_url: " << db.error() << "\n";
    return 2;
  }
  const std::string run_id = std::to_string(getpid()) + "_" + std::to_string(std::time(nullptr) % 100000);
  env.tmp = std::filesystem::temp_directory_path().string() + "/sb-bench-scaleout-" + run_id;
  std::filesystem::create_directories(env.tmp);
  std::string error;
  if (!sb::MakeGitRemotes(&env, &error)) {
    std::cerr << "sb_bench_scaleout: " << error << "\n";
    return 1;
  }
  auto schema = [&](const std::string& label) { return "sbsc_" + run_id + "_" + label; };

  std::cout << "## sb_bench_scaleout\n\n- command: `";
  for (int i = 0; i < argc; ++i) std::cout << (i ? " " : "") << ShellQuote(argv[i]);
  const std::string src = SB_SOURCE_DIR;
  const std::string commit = Run("git -C " + ShellQuote(src) + " rev-parse --short HEAD 2>/dev/null");
  const std::string dirty =
      Run("git -C " + ShellQuote(src) + " status --porcelain --untracked-files=no 2>/dev/null | wc -l");
  std::cout << "`\n- commit: `" << (commit.empty() ? "unknown" : commit) << "`"
            << (dirty.empty() || dirty == "0" ? "" : " with " + dirty + " modified tracked files in the tree")
            << "; switchboardd: `" << env.switchboardd << "`\n";
  PrintMachine(&db);
  std::cout << "- PostgreSQL schemas: `sbsc_" << run_id << "_*`, one per deployment"
            << (o.keep_schemas ? ", kept" : ", dropped afterwards") << "\n\n";

  bool failed = false;
  std::vector<std::string> verdicts;
  auto verdict = [&](const std::string& target, const std::string& measured, bool ok) {
    verdicts.push_back("| " + target + " | " + measured + " | " + (ok ? "met" : "**not met**") + " |");
  };

  if (phases.count("publish")) {
    std::cout << "### 1. Publish, " << o.concurrency << " concurrent callers, " << o.duration_s << " s each\n\n";
    std::vector<PublishRun> runs;
    runs.push_back(RunPublish(env, &db, "sqlite", "SQLite", sb::StoreSpec{}, 1, o));
    sb::StoreSpec pg;
    pg.postgres = true;
    pg.schema = schema("pub1");
    runs.push_back(RunPublish(env, &db, "pub1", "PostgreSQL", pg, 1, o));
    pg.schema = schema("pub3");
    runs.push_back(RunPublish(env, &db, "pub3", "PostgreSQL, 3 replicas", pg, 3, o));
    PrintPublish(runs, o);
    for (const auto& r : runs) failed = failed || !r.error.empty() || r.load.errors > 0;
    if (runs[0].error.empty() && runs[1].error.empty() && runs[0].Ops() > 0) {
      verdicts.push_back("| Publish ops/s, PostgreSQL / SQLite (no target: for the record) | 1 replica " +
                         Fmt(runs[1].Ops() / runs[0].Ops(), 2) + "x, 3 replicas " +
                         Fmt(runs[2].error.empty() ? runs[2].Ops() / runs[0].Ops() : 0, 2) + "x | - |");
    }
  }

  if (phases.count("watch")) {
    std::cout << "### 2. Watch latency, commit on replica A to a watcher on replica B\n\n";
    std::vector<WatchRun> runs;
    runs.push_back(RunWatch(env, &db, "watch", true, schema("watch"), o));
    runs.push_back(RunWatch(env, &db, "watchpoll", false, schema("poll"), o));
    PrintWatch(runs, o);
    for (const WatchRun& w : runs) {
      const auto& r = w.r;
      const bool all = w.error.empty() && r.published > 0 && r.received == r.published;
      failed = failed || !w.error.empty();
      const std::string got =
          all ? "" : " (" + std::to_string(r.received) + " of " + std::to_string(r.published) + " received)";
      if (w.listen) {
        verdict("watch across replicas, NOTIFY: p50 <= 5 ms", Fmt(r.Percentile(r.from_return_ms, 50), 2) + " ms" + got,
                all && r.Percentile(r.from_return_ms, 50) <= 5);
        verdict("watch across replicas, NOTIFY: p99 <= 50 ms", Fmt(r.Percentile(r.from_return_ms, 99), 2) + " ms" + got,
                all && r.Percentile(r.from_return_ms, 99) <= 50);
      } else {
        const double max = r.from_return_ms.empty() ? 0 : r.from_return_ms.back();
        verdict("watch across replicas, poll only: max <= 1.1 s",
                Fmt(max / 1000, 3) + " s (p99 " + Fmt(r.Percentile(r.from_return_ms, 99) / 1000, 3) + " s)" + got,
                all && max <= 1100);
      }
    }
  }

  if (phases.count("failover")) {
    std::cout << "### 3. Failover: kill -9 of the replica holding the leader lease\n\n";
    sb::StoreSpec store;
    store.postgres = true;
    store.schema = schema("fail");
    store.media_workers = 1;
    sb::Deployment d(env, "failover", store);
    sb::FailoverResult f;
    if (!d.Start(3, &f.error)) {
      PrintFailover(f, nullptr, o);
    } else {
      f = sb::RunFailover(d, db, env, o.failover);
      PrintFailover(f, &d, o);
      d.StopAll();
    }
    DropSchema(&db, store.schema, o);
    failed = failed || !f.error.empty();
    auto secs = [](double s) { return s < 0 ? std::string("not measured") : Fmt(s, 2) + " s"; };
    if (f.error.empty()) {
      verdict("failover: `" + f.role_kind + "` taken over < 20 s", secs(f.role_taken_s),
              f.role_taken_s >= 0 && f.role_taken_s < 20);
      if (f.unfinished_at_kill > 0) {
        verdict("failover: the killed replica's media jobs claimed elsewhere < 20 s", secs(f.first_taken_s),
                f.first_taken_s >= 0 && f.first_taken_s < 20);
        verdict("failover: all of them finished < 20 s",
                secs(f.all_done_s) + " (" + std::to_string(f.done) + " DONE, " + std::to_string(f.failed) + " FAILED)",
                f.all_done_s >= 0 && f.all_done_s < 20);
      } else {
        verdicts.push_back(
            "| failover: media jobs taken over < 20 s | not measured (no unfinished job at the kill) | "
            "**not measured** |");
      }
    } else {
      verdicts.push_back("| failover < 20 s | " + f.error.substr(0, f.error.find('\n')) + " | **not measured** |");
    }
  }

  std::cout << "### Summary\n\n| target | measured | verdict |\n|---|---|---|\n";
  for (const auto& v : verdicts) std::cout << v << "\n";
  std::cout << "\nLoad average at the end: " << FirstLineWith("/proc/loadavg", "") << ".\n";
  if (failed) {
    std::cout << "\nErrors occurred; switchboardd logs kept in " << env.tmp << "\n";
  } else {
    std::error_code ec;
    std::filesystem::remove_all(env.tmp, ec);
  }
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  switchboard::Cli cli("sb_bench_scaleout",
                       "sb_bench_scaleout [flags]\n\n"
                       "Issue 22's measurements in one run (docs/scale-out.md), every switchboardd a child process:\n"
                       "  publish   Publish with --concurrency callers for --duration_s on SQLite, PostgreSQL, and\n"
                       "            three PostgreSQL replicas (callers spread over them)\n"
                       "  watch     latency from a Publish on replica A to a WatchEvents on replica B, with NOTIFY\n"
                       "            and poll-only (store_listen: false)\n"
                       "  failover  kill -9 of the replica holding the leader lease after it accepted media\n"
                       "            operations (Azurite); time until the others carry its work on");
  cli.AddString("switchboardd", "build/server/switchboardd", "The switchboardd binary.");
  cli.AddString("pg_url", "", "PostgreSQL URL (tools/pg.sh url); required.", "SWITCHBOARD_TEST_PG_URL");
  cli.AddString("phases", "publish,watch,failover", "Comma-separated: publish, watch, failover.");
  cli.AddInt("duration_s", 10, "publish: seconds of load per store.");
  cli.AddInt("concurrency", 64, "publish: calls outstanding at once.");
  cli.AddInt("threads", 3, "publish: client threads (each with its own channel); split over the replicas.");
  cli.AddInt("watch_rate", 200, "watch: Publish calls per second on replica A.");
  cli.AddInt("watch_s", 5, "watch: seconds of publishing.");
  cli.AddInt("failover_operations", 200, "failover: media operations the victim accepts before the kill.");
  cli.AddInt("failover_timeout_s", 120, "failover: longest wait after the kill.");
  cli.AddBool("keep_schemas", false, "Keep the PostgreSQL schemas (sbsc_<run>_*) instead of dropping them.");
  cli.SetEpilog(
      "Needs PostgreSQL (--pg_url) and, for the failover's media operations, Azurite\n"
      "(SWITCHBOARD_TEST_AZURITE_ACCOUNT, _BLOB, _KEY), e.g.:\n"
      "  export SWITCHBOARD_SERVICES_DIR=$(mktemp -d); tools/services.sh start; eval \"$(tools/services.sh env)\"\n"
      "  build/tools/bench/sb_bench_scaleout --duration_s=10\n"
      "  tools/services.sh stop\n"
      "Every wait has a deadline; logs are kept in /tmp/sb-bench-scaleout-* when something failed.");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "sb_bench_scaleout: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  if (!cli.positionals().empty()) {
    std::cerr << "sb_bench_scaleout: unexpected argument '" << cli.positionals()[0] << "'; see --help\n";
    return 2;
  }
  return Main(cli, argc, argv);
}
