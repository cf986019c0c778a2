// sb_bench_scaleout's own PostgreSQL session (scaleout.h): libpq directly,
// for the job leases and the database's processes.

#include <libpq-fe.h>

#include <fstream>

#include "scaleout.h"

namespace switchboard::bench {

PgSession::PgSession(const std::string& url) {
  conn_ = PQconnectdb(url.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    error_ = PQerrorMessage(conn_);
    return;
  }
  // DROP SCHEMA ... CASCADE lists every table as a NOTICE otherwise.
  PQclear(PQexec(conn_, "SET client_min_messages = warning"));
}

PgSession::~PgSession() { PQfinish(conn_); }

bool PgSession::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

std::optional<std::vector<std::vector<std::string>>> PgSession::Query(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    error_ = PQresultErrorMessage(r);
    if (error_.empty()) error_ = PQerrorMessage(conn_);
    PQclear(r);
    return std::nullopt;
  }
  std::vector<std::vector<std::string>> rows(PQntuples(r));
  for (int i = 0; i < PQntuples(r); ++i) {
    for (int j = 0; j < PQnfields(r); ++j) rows[i].emplace_back(PQgetvalue(r, i, j));
  }
  PQclear(r);
  return rows;
}

PgCpu::PgCpu(PgSession& db, const std::string& schema) {
  // application_name is "switchboardd <role> (<schema>)" (pg_conn.cc).
  auto rows = db.Query(
      "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (application_name LIKE "
      "'switchboardd % (" +
      schema + ")' OR backend_type <> 'client backend')");
  if (!rows) return;
  for (const auto& row : *rows) {
    const pid_t pid = static_cast<pid_t>(std::stol(row[0]));
    // Only a database on this machine: the pid must be a postgres process here.
    std::ifstream comm("/proc/" + row[0] + "/comm");
    std::string name;
    if (!(comm >> name) || name.find("postgres") == std::string::npos) continue;
    pids_.emplace_back(pid, CpuSeconds(pid));
  }
}

double PgCpu::Elapsed() const {
  double sum = 0;
  for (const auto& [pid, start] : pids_) {
    const double now = CpuSeconds(pid);
    if (now >= start) sum += now - start;  // a process gone since reads 0
  }
  return sum;
}

}  // namespace switchboard::bench
