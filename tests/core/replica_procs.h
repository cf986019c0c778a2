#pragma once
// Real switchboardd processes as replicas on one PostgreSQL schema
// (docs/scale-out.md), for the chaos tests: each on loopback ports fixed
// for its life (a restart comes back on the same address), its own data
// dir, one config shared by all (the store, bare git remotes, Azurite as
// the only blob account). Killed, stopped and continued by signal; every
// process still running is killed when the set is destroyed.

#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace switchboard::testing {

// The environment the chaos tests need: SWITCHBOARD_TEST_AZURITE_* always,
// SWITCHBOARD_TEST_PG_URL when `need_pg`. A message naming what is missing,
// or empty.
std::string MissingChaosEnv(bool need_pg);

class ReplicaProcs {
 public:
  struct Options {
    std::string binary;  // switchboardd
    std::string dir;     // everything goes under it
    std::string pg_url;
    std::string schema;
    int replicas = 3;
  };
  // Writes the config and makes the bare git remotes; starts nothing.
  static absl::StatusOr<std::unique_ptr<ReplicaProcs>> Create(Options options);
  ~ReplicaProcs();

  int size() const { return static_cast<int>(procs_.size()); }
  // Starts replica i (again, on its data dir and ports) and waits for its
  // "serving" log line (30 s).
  absl::Status Start(int i);
  absl::Status StartAll();
  // kill -9, then reaps it.
  void Kill(int i);
  void Stop(int i);      // SIGSTOP
  void Continue(int i);  // SIGCONT
  // Running (stopped counts as running).
  bool Running(int i);

  const std::string& address(int i) const { return procs_[i].grpc; }
  // One channel per replica for the set's life, reconnecting within about
  // a second of a restart.
  std::shared_ptr<grpc::Channel> channel(int i) const { return procs_[i].channel; }
  std::string data_dir(int i) const;
  // The last `lines` lines of each log of replica i.
  std::string LogTail(int i, int lines) const;
  std::string AllLogTails(int lines) const;
  // Lines of replica i's logs holding `needle`.
  std::vector<std::string> LogLines(int i, const std::string& needle) const;

 private:
  struct Proc {
    std::string grpc, http;
    pid_t pid = -1;
    int starts = 0;
    std::vector<std::string> logs;
    std::shared_ptr<grpc::Channel> channel;
  };
  explicit ReplicaProcs(Options options) : options_(std::move(options)) {}
  Options options_;
  std::string config_;
  std::vector<Proc> procs_;
};

// A libpq session for the checks; every call fails the test on error.
class PgCheck {
 public:
  PgCheck(const std::string& url, const std::string& schema);
  ~PgCheck();
  bool ok() const;
  // The first column of every row.
  std::vector<std::string> Column(const std::string& sql);
  // Every row, each column as text.
  std::vector<std::vector<std::string>> Rows(const std::string& sql);
  int64_t Int(const std::string& sql);
  // Runs `sql`; the status as text when it fails, else "".
  std::string Exec(const std::string& sql);

 private:
  PGconn* conn_ = nullptr;
};

// N distinct free loopback ports (all bound at once, then released).
std::vector<int> FreePorts(int n);

}  // namespace switchboard::testing
