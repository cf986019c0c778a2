#include "tests/core/store_jobs.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "server/core/store_open.h"

namespace switchboard::testing {
namespace {

constexpr char kColumns[] = "id, state, attempts, run_at_us, payload, last_error, owner, token, lease_until_us";
constexpr char kDoneColumns[] = "id, state, attempts, run_at_us, payload, last_error, '', token, 0";

std::vector<core::Job> FromSqlite(const std::string& path, const std::string& kind, const std::string& key) {
  std::vector<core::Job> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path << ": " << (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 5000);
  // Unfinished jobs are in `jobs`, finished ones in `jobs_done` (job_sqlite.cc).
  const std::string where = absl::StrCat(" WHERE kind=?1", key.empty() ? "" : " AND key=?2");
  const std::string sql = absl::StrCat("SELECT ", kColumns, " FROM jobs", where, " UNION ALL SELECT ", kDoneColumns,
                                       " FROM jobs_done", where, " ORDER BY id");
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return out;
  }
  sqlite3_bind_text(st, 1, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
  if (!key.empty()) sqlite3_bind_text(st, 2, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  auto text = [&](int col) {
    const void* p = sqlite3_column_blob(st, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(st, col)))
             : std::string();
  };
  while (sqlite3_step(st) == SQLITE_ROW) {
    core::Job j;
    j.id = sqlite3_column_int64(st, 0);
    j.kind = kind;
    j.state = static_cast<core::JobState>(sqlite3_column_int(st, 1));
    j.attempts = sqlite3_column_int(st, 2);
    j.run_at_us = sqlite3_column_int64(st, 3);
    j.payload = text(4);
    j.last_error = text(5);
    j.lease.job_id = j.id;
    j.lease.owner = text(6);
    j.lease.token = sqlite3_column_int64(st, 7);
    j.lease.expires_us = sqlite3_column_int64(st, 8);
    out.push_back(std::move(j));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// Binary results: integers in network order.
int64_t Int(const PGresult* r, int row, int col) {
  const char* p = PQgetvalue(r, row, col);
  int64_t v = 0;
  for (int i = 0; i < PQgetlength(r, row, col); ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  // Sign-extend shorter integers (smallint, integer).
  int bits = PQgetlength(r, row, col) * 8;
  if (bits > 0 && bits < 64 && (v >> (bits - 1)) & 1) v -= int64_t{1} << bits;
  return v;
}

std::string Bytes(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}

std::vector<core::Job> FromPostgres(const std::string& url, const std::string& data_dir, const std::string& kind,
                                    const std::string& key) {
  std::vector<core::Job> out;
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect to SWITCHBOARD_TEST_STORE_URL: " << PQerrorMessage(c);
    PQfinish(c);
    return out;
  }
  const std::string sql = absl::StrCat("SELECT ", kColumns, " FROM ", core::TestStoreSchema(data_dir),
                                       ".jobs WHERE kind=$1", key.empty() ? "" : " AND key=$2", " ORDER BY id");
  const char* values[2] = {kind.data(), key.data()};
  const int lengths[2] = {static_cast<int>(kind.size()), static_cast<int>(key.size())};
  const int formats[2] = {1, 1};
  PGresult* r = PQexecParams(c, sql.c_str(), key.empty() ? 1 : 2, nullptr, values, lengths, formats, 1);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
  } else {
    for (int i = 0; i < PQntuples(r); ++i) {
      core::Job j;
      j.id = Int(r, i, 0);
      j.kind = kind;
      j.state = static_cast<core::JobState>(Int(r, i, 1));
      j.attempts = static_cast<int>(Int(r, i, 2));
      j.run_at_us = Int(r, i, 3);
      j.payload = Bytes(r, i, 4);
      j.last_error = Bytes(r, i, 5);
      j.lease.job_id = j.id;
      j.lease.owner = Bytes(r, i, 6);
      j.lease.token = Int(r, i, 7);
      j.lease.expires_us = Int(r, i, 8);
      out.push_back(std::move(j));
    }
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

}  // namespace

std::vector<core::Job> JobsInStore(const std::string& data_dir, const std::string& kind, const std::string& key) {
  const std::string file = data_dir + "/switchboard.db";
  const char* url = std::getenv("SWITCHBOARD_TEST_STORE_URL");
  if (std::filesystem::exists(file) || url == nullptr || *url == '\0') return FromSqlite(file, kind, key);
  return FromPostgres(url, data_dir, kind, key);
}

absl::StatusOr<std::unique_ptr<core::Store>> OpenServerStore(const std::string& data_dir) {
  core::ServerConfig config;
  config.data_dir = data_dir;
  return core::OpenConfiguredStore(config);
}

std::vector<core::Job> JobsInSqlite(const std::string& db_path, const std::string& kind, const std::string& key) {
  return FromSqlite(db_path, kind, key);
}

}  // namespace switchboard::testing
