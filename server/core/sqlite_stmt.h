#pragma once
// Small RAII helpers over SQLite's C API, shared by the store
// (sqlite_store.cc) and its job table (job_sqlite.cc).

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace switchboard::core::sqlite {

inline absl::Status SqlError(sqlite3* db, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("store: ", what, ": ", sqlite3_errmsg(db)));
}

// Runs `sql` (one statement or several). On failure, rolls back a
// transaction `sql` left open and answers UNAVAILABLE "store: <what>: <why>".
inline absl::Status Exec(sqlite3* db, const char* sql, absl::string_view what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return absl::OkStatus();
  std::string why = err ? err : sqlite3_errmsg(db);
  sqlite3_free(err);
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return absl::UnavailableError(absl::StrCat("store: ", what, ": ", why));
}

// A prepared statement that resets itself when it goes out of scope.
class Stmt {
 public:
  Stmt() = default;
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  absl::Status Prepare(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      return SqlError(db, absl::StrCat("prepare '", sql, "'"));
    }
    return absl::OkStatus();
  }
  sqlite3_stmt* get() { return stmt_; }
  void Finalize() {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Binds and resets around one use of a statement.
class Use {
 public:
  explicit Use(Stmt& s) : s_(s.get()) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use& Text(int i, absl::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Use& Blob(int i, absl::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Use& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  std::string Col(int i) {
    const void* p = sqlite3_column_blob(s_, i);
    int n = sqlite3_column_bytes(s_, i);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }
  // Valid until the next Step or the end of this Use.
  absl::string_view ColText(int i) {
    const unsigned char* p = sqlite3_column_text(s_, i);
    int n = sqlite3_column_bytes(s_, i);
    return p ? absl::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : absl::string_view();
  }

 private:
  sqlite3_stmt* s_;
};

// Runs the one-time migration `script` when the schema still holds the
// object it replaces (`type` 'table' or 'index', named `old_name`); true
// when it ran. `what` names it in an error.
inline absl::StatusOr<bool> MigrateOnce(sqlite3* db, absl::string_view type, absl::string_view old_name,
                                        const char* script, absl::string_view what) {
  Stmt has;
  if (absl::Status s = has.Prepare(db, "SELECT 1 FROM sqlite_master WHERE type=?1 AND name=?2"); !s.ok()) return s;
  bool present = false;
  {
    Use u(has);
    u.Text(1, type).Text(2, old_name);
    present = u.Step() == SQLITE_ROW;
  }
  has.Finalize();
  if (!present) return false;
  if (absl::Status s = Exec(db, script, what); !s.ok()) return s;
  return true;
}

}  // namespace switchboard::core::sqlite
