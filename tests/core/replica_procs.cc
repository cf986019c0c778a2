#include "tests/core/replica_procs.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/core/spawn_logged.h"

namespace switchboard::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string MissingChaosEnv(bool need_pg) {
  std::string missing;
  std::vector<const char*> names = {"SWITCHBOARD_TEST_AZURITE_BLOB", "SWITCHBOARD_TEST_AZURITE_ACCOUNT",
                                    "SWITCHBOARD_TEST_AZURITE_KEY"};
  if (need_pg) names.push_back("SWITCHBOARD_TEST_PG_URL");
  for (const char* n : names) {
    if (Env(n).empty()) absl::StrAppend(&missing, missing.empty() ? "" : ", ", n);
  }
  if (missing.empty()) return "";
  return absl::StrCat(missing, " not set: run through tools/test.sh, or tools/services.sh start and eval \"$(tools/services.sh env)\"");
}

std::vector<int> FreePorts(int n) {
  std::vector<int> fds, ports;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    fds.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds) close(fd);
  return ports;
}

absl::StatusOr<std::unique_ptr<ReplicaProcs>> ReplicaProcs::Create(Options options) {
  std::unique_ptr<ReplicaProcs> set(new ReplicaProcs(std::move(options)));
  const std::string& dir = set->options_.dir;
  // Real remotes outside every replica's data dir: bare repositories.
  const std::string r = dir + "/remotes";
  const std::string seed = absl::StrCat(
      "set -e; mkdir -p ", r, "; git init -q --bare -b main ", r, "/infra.git; git init -q --bare -b main ", r,
      "/modules.git; w=$(mktemp -d); git -C $w init -q -b main; echo '# infra' > $w/README.md; ",
      "git -C $w add -A; git -C $w -c user.name=t -c user.email=t@localhost commit -q -m init; ", "git -C $w push -q ",
      r, "/infra.git main; git -C $w push -q ", r, "/modules.git main; rm -rf $w");
  if (std::system(seed.c_str()) != 0) return absl::InternalError("making the bare git remotes failed");
  nlohmann::json cfg = {
      {"store", set->options_.pg_url},
      {"store_schema", set->options_.schema},
      {"shutdown_grace_seconds", 1},
      {"resourcing", {{"infra_url", "file://" + r + "/infra.git"}, {"modules_url", "file://" + r + "/modules.git"}}},
      {"media",
       {{"local_accounts", nlohmann::json::array()},
        {"azure_accounts",
         {{{"name", Env("SWITCHBOARD_TEST_AZURITE_ACCOUNT")},
           {"endpoint", Env("SWITCHBOARD_TEST_AZURITE_BLOB")},
           {"key1", Env("SWITCHBOARD_TEST_AZURITE_KEY")}}}}}}};
  set->config_ = dir + "/switchboardd.json";
  std::ofstream(set->config_) << cfg.dump(2);
  std::vector<int> ports = FreePorts(2 * set->options_.replicas);
  for (int i = 0; i < set->options_.replicas; ++i) {
    Proc p;
    p.grpc = absl::StrCat("127.0.0.1:", ports[2 * i]);
    p.http = absl::StrCat("127.0.0.1:", ports[2 * i + 1]);
    grpc::ChannelArguments args;
    // Back within about a second of a restart, not after gRPC's default
    // backoff (up to two minutes).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    p.channel = grpc::CreateCustomChannel(p.grpc, grpc::InsecureChannelCredentials(), args);
    set->procs_.push_back(std::move(p));
  }
  return set;
}

ReplicaProcs::~ReplicaProcs() {
  for (int i = 0; i < size(); ++i) Kill(i);
}

std::string ReplicaProcs::data_dir(int i) const { return absl::StrCat(options_.dir, "/replica-", i); }

absl::Status ReplicaProcs::Start(int i) {
  Proc& p = procs_[i];
  if (p.pid > 0) return absl::FailedPreconditionError(absl::StrCat("replica ", i, " is running"));
  std::string log = absl::StrCat(options_.dir, "/replica-", i, ".", p.starts++, ".log");
  p.logs.push_back(log);
  p.pid = SpawnLogged({options_.binary, "--config=" + config_, "--data_dir=" + data_dir(i), "--grpc_address=" + p.grpc,
                       "--http_address=" + p.http},
                      log);
  if (p.pid < 0) return absl::InternalError("fork failed");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (ReadAll(log).find("\"msg\":\"serving\"") != std::string::npos) return absl::OkStatus();
    int status = 0;
    if (waitpid(p.pid, &status, WNOHANG) == p.pid) {
      p.pid = -1;
      const std::string how = WIFEXITED(status) ? absl::StrCat("exited ", WEXITSTATUS(status))
                                                : absl::StrCat("killed by signal ", WTERMSIG(status));
      return absl::InternalError(absl::StrCat("replica ", i, " ", how, " at start",
                                              WIFEXITED(status) && WEXITSTATUS(status) == 127
                                                  ? " (could not run " + options_.binary + ": being rebuilt?)"
                                                  : "",
                                              ": ", LogTail(i, 20)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("replica ", i, " not serving within 30 s: ", LogTail(i, 20)));
}

absl::Status ReplicaProcs::StartAll() {
  // One at a time: the first makes the schema, and each start's log is
  // easier to read alone.
  for (int i = 0; i < size(); ++i) {
    if (absl::Status s = Start(i); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void ReplicaProcs::Kill(int i) {
  Proc& p = procs_[i];
  if (p.pid <= 0) return;
  kill(p.pid, SIGKILL);
  waitpid(p.pid, nullptr, 0);
  p.pid = -1;
}

void ReplicaProcs::Stop(int i) {
  if (procs_[i].pid > 0) kill(procs_[i].pid, SIGSTOP);
}

void ReplicaProcs::Continue(int i) {
  if (procs_[i].pid > 0) kill(procs_[i].pid, SIGCONT);
}

bool ReplicaProcs::Running(int i) {
  Proc& p = procs_[i];
  if (p.pid <= 0) return false;
  if (waitpid(p.pid, nullptr, WNOHANG) == p.pid) {
    p.pid = -1;
    return false;
  }
  return true;
}

std::string ReplicaProcs::LogTail(int i, int lines) const {
  std::string out;
  for (const std::string& log : procs_[i].logs) {
    std::deque<std::string> tail;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
      tail.push_back(line);
      if (static_cast<int>(tail.size()) > lines) tail.pop_front();
    }
    absl::StrAppend(&out, "--- ", log, "\n");
    for (const auto& l : tail) absl::StrAppend(&out, l, "\n");
  }
  return out;
}

std::string ReplicaProcs::AllLogTails(int lines) const {
  std::string out;
  for (int i = 0; i < size(); ++i) absl::StrAppend(&out, LogTail(i, lines));
  return out;
}

std::vector<std::string> ReplicaProcs::LogLines(int i, const std::string& needle) const {
  std::vector<std::string> out;
  for (const std::string& log : procs_[i].logs) {
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
      if (line.find(needle) != std::string::npos) out.push_back(line);
    }
  }
  return out;
}

PgCheck::PgCheck(const std::string& url, const std::string& schema) {
  conn_ = PQconnectdb(url.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect to " << url << ": " << PQerrorMessage(conn_);
    return;
  }
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // DROP ... CASCADE's list
  if (!schema.empty()) {
    std::string e = Exec(absl::StrCat("SET search_path TO \"", schema, "\""));
    if (!e.empty()) ADD_FAILURE() << e;
  }
}

PgCheck::~PgCheck() {
  if (conn_) PQfinish(conn_);
}

bool PgCheck::ok() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

std::vector<std::vector<std::string>> PgCheck::Rows(const std::string& sql) {
  std::vector<std::vector<std::string>> rows;
  PGresult* r = PQexec(conn_, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ADD_FAILURE() << sql << ": " << PQerrorMessage(conn_);
  } else {
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j));
      rows.push_back(std::move(row));
    }
  }
  PQclear(r);
  return rows;
}

std::vector<std::string> PgCheck::Column(const std::string& sql) {
  std::vector<std::string> out;
  for (auto& row : Rows(sql)) out.push_back(row.empty() ? "" : row[0]);
  return out;
}

int64_t PgCheck::Int(const std::string& sql) {
  std::vector<std::string> c = Column(sql);
  if (c.size() != 1) {
    ADD_FAILURE() << sql << ": " << c.size() << " rows, not 1";
    return -1;
  }
  return c[0].empty() ? 0 : std::stoll(c[0]);
}

std::string PgCheck::Exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  std::string err;
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
    err = absl::StrCat(sql, ": ", PQerrorMessage(conn_));
  }
  PQclear(r);
  return err;
}

}  // namespace switchboard::testing
