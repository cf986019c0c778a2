#pragma once
// sb_bench_scaleout's parts (issue 22, docs/scale-out.md): switchboardd
// deployments on SQLite or PostgreSQL started as child processes, a libpq
// session for what only the database knows (job leases, its backends' CPU),
// and the watch-latency and failover measurements. scaleout_bench.cc runs
// them and prints the report.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process.h"

struct pg_conn;

namespace switchboard::bench {

// What every deployment of one run shares.
struct Environment {
  std::string switchboardd;  // the binary
  std::string tmp;           // the run's folder (data dirs, logs, configs)
  std::string pg_url;        // empty: no PostgreSQL phases
  // Bare git remotes (PostgreSQL needs real ones): <remotes>/infra.git, modules.git.
  std::string remotes;
  // Azurite's account; empty when SWITCHBOARD_TEST_AZURITE_* is not set.
  std::string azurite_account, azurite_blob, azurite_key;
};

// Makes the two bare remotes under env->tmp and sets env->remotes; false
// and `error` when git fails.
bool MakeGitRemotes(Environment* env, std::string* error);

// Where a deployment keeps its state.
struct StoreSpec {
  bool postgres = false;  // false: SQLite, one file per data dir
  std::string schema;     // PostgreSQL: a fresh one per deployment
  bool listen = true;     // PostgreSQL: store_listen
  int media_workers = 4;  // media.workers
};

struct Replica {
  std::unique_ptr<ChildProcess> proc;
  std::string grpc;  // HOST:PORT
  std::string http;  // HOST:PORT of /metrics
  pid_t pid = 0;
  bool killed = false;
};

// What a PostgreSQL replica logs when its store closes ("store closed"):
// its counters over its whole life.
struct StoreCloseStats {
  bool found = false;
  double transactions = 0, mutations = 0;
  double locked_transactions = 0, locked_mutations = 0, lock_hold_us = 0, lock_hold_max_us = 0;
};

// switchboardd processes on one store, each on a data dir of its own, on
// free loopback ports.
class Deployment {
 public:
  Deployment(const Environment& env, std::string label, StoreSpec store)
      : env_(env), label_(std::move(label)), store_(std::move(store)) {}
  ~Deployment() { StopAll(); }
  // Starts `n` replicas at once and waits (30 s) until each serves.
  bool Start(int n, std::string* error);
  std::vector<Replica>& replicas() { return replicas_; }
  const std::string& label() const { return label_; }
  const StoreSpec& store() const { return store_; }
  // kill -9 of replica i, reaped before it returns.
  void Kill(size_t i);
  // User + system CPU seconds of the replicas still running.
  double CpuSeconds() const;
  // SIGTERM to each replica still running; their "store closed" lines, summed.
  StoreCloseStats StopAll();

 private:
  std::string WriteConfig(std::string* error) const;

  const Environment& env_;
  std::string label_;
  StoreSpec store_;
  std::vector<Replica> replicas_;
  bool stopped_ = false;
};

// Sum of the /metrics samples `name` over `replicas` (those answering), or
// -1 when none has it.
double SumMetric(std::vector<Replica>& replicas, const std::string& name);

// One libpq session, for the bench's own queries.
class PgSession {
 public:
  explicit PgSession(const std::string& url);
  ~PgSession();
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;
  bool ok() const;
  const std::string& error() const { return error_; }
  // The rows of `sql` as text (NULL as ""); nullopt on failure (error()).
  std::optional<std::vector<std::vector<std::string>>> Query(const std::string& sql);

 private:
  pg_conn* conn_ = nullptr;
  std::string error_;
};

// The PostgreSQL processes doing a deployment's work: the backends of its
// schema's sessions (by application_name) and the server's own background
// processes (WAL writer, checkpointer, ...). Their CPU is what the database
// spent on the deployment, backends of other schemas excluded.
class PgCpu {
 public:
  PgCpu(PgSession& db, const std::string& schema);
  // CPU seconds the processes found at construction have used since.
  double Elapsed() const;
  bool ok() const { return !pids_.empty(); }

 private:
  std::vector<std::pair<pid_t, double>> pids_;
};

// Watch latency across replicas (docs/scale-out.md, "Watches on every
// replica"): a watcher on replica B, a publisher on replica A at a steady
// rate.
struct WatchResult {
  std::string error;
  int published = 0;
  int received = 0;
  int early = 0;                                     // seen on B before A's Publish returned
  std::vector<double> from_return_ms, from_send_ms;  // sorted
  double Percentile(const std::vector<double>& v, double p) const;
};
WatchResult RunWatchLatency(const std::string& publisher, const std::string& watcher_grpc,
                            const std::string& watcher_http, double rate_per_s, double seconds, double drain_s);

// Failover: kill -9 of the replica holding the leader lease (or, without
// one, the status bridge's) right after it accepted media operations.
struct FailoverOptions {
  int operations = 200;
  double timeout_s = 120;
};
struct FailoverResult {
  std::string error;
  std::vector<std::string> notes;
  std::string role_kind;  // the lease that picked the victim
  int victim = -1;
  pid_t victim_pid = 0;
  int accepted = 0;            // operations accepted by the victim
  int unfinished_at_kill = 0;  // their jobs not finished when it died
  int held_by_victim = 0;      // ... of which leased to it
  double role_taken_s = -1;    // another replica holds the role's lease
  double first_taken_s = -1;   // an unfinished job claimed (or finished) elsewhere
  double half_done_s = -1, all_done_s = -1;
  int done = 0, failed = 0;  // jobs DONE / FAILED at the end
  // Their operations by GetOperation on a surviving replica at the end.
  int ops_succeeded = 0, ops_failed = 0, ops_other = 0, ops_unknown = 0;
};
FailoverResult RunFailover(Deployment& d, PgSession& db, const Environment& env, const FailoverOptions& options);

}  // namespace switchboard::bench
