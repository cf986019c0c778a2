#pragma once
// Small RAII helpers over libpq, for the PostgreSQL store (pg_store.cc),
// its job table (job_pg.cc) and its log tailer (pg_tailer.cc): a
// connection with its session settings, a result, parameters sent in
// binary, and a pipeline of statements sent in one round trip.
//
// Every result is asked for in binary (bytea comes back raw, integers in
// network order); every parameter has its type given, so that no
// statement depends on PostgreSQL guessing one.

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::core::pg {

// How to open a session; every session gets the same settings.
struct ConnectSpec {
  // A libpq connection string or URI.
  std::string url;
  // The schema holding the tables: the session's search_path.
  std::string schema;
  absl::Duration lock_timeout = absl::Seconds(10);
  absl::Duration idle_in_transaction_timeout = absl::Seconds(15);
  absl::Duration connect_timeout = absl::Seconds(10);
  // TCP keepalives (ignored on a unix socket): a dead peer is noticed
  // after idle + interval * count.
  absl::Duration keepalive_idle = absl::Seconds(10);
  absl::Duration keepalive_interval = absl::Seconds(5);
  int keepalive_count = 3;
  // What the session is for ("log writer"): its application_name is
  // "switchboardd <role> (<schema>)", as pg_stat_activity shows it.
  std::string role = "session";
};

// `url` with any password replaced by "***", for messages and logs.
std::string RedactUrl(absl::string_view url);

// A quoted identifier ("my schema" -> "\"my schema\"").
std::string QuoteIdent(absl::string_view ident);

class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept {
    if (this != &o) {
      PQclear(r_);
      r_ = o.r_;
      o.r_ = nullptr;
    }
    return *this;
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  PGresult* get() const { return r_; }
  int rows() const { return r_ ? PQntuples(r_) : 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  // The value's bytes: raw for bytea and text, as they came.
  absl::string_view View(int row, int col) const {
    return absl::string_view(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  std::string Bytes(int row, int col) const { return std::string(View(row, col)); }
  // An integer column (int2, int4 or int8), binary or text.
  int64_t Int(int row, int col) const;
  // Rows an INSERT, UPDATE or DELETE changed.
  int64_t Changed() const;

 private:
  PGresult* r_ = nullptr;
};

// Statement parameters. Bytes() and Text() keep a view: the caller keeps
// the bytes alive until the statement ran; the others copy. Moving a
// Params keeps it valid (the values' addresses are taken when it is sent).
class Params {
 public:
  Params() = default;
  Params(Params&&) = default;
  Params& operator=(Params&&) = default;
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;

  Params& Bytes(absl::string_view v);  // bytea
  Params& Own(std::string v);          // bytea, copied
  Params& Text(absl::string_view v);   // text
  Params& Int(int64_t v);              // int8
  // bytea[] (binary array format), copied.
  Params& ByteaArray(const std::vector<absl::string_view>& v);
  int size() const { return static_cast<int>(types_.size()); }
  const Oid* types() const { return types_.data(); }
  // The values' addresses, valid until this Params changes or moves.
  const char* const* values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  Params& Add(Oid type, absl::string_view v, int owned);
  std::vector<std::string> owned_;
  std::vector<Oid> types_;
  // A view, or (owned_index >= 0) owned_[owned_index].
  std::vector<absl::string_view> views_;
  std::vector<int> owned_index_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  mutable std::vector<const char*> values_;
};

struct Query {
  std::string sql;
  Params params;
};

class Conn {
 public:
  // UNAVAILABLE "cannot connect to PostgreSQL at <url without password>:
  // <libpq's message>; check --store".
  static absl::StatusOr<std::unique_ptr<Conn>> Open(const ConnectSpec& spec);
  ~Conn() { PQfinish(pg_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  PGconn* get() const { return pg_; }
  bool ok() const { return pg_ != nullptr && PQstatus(pg_) == CONNECTION_OK; }
  // A new session in place of a broken one (same settings).
  absl::Status Reconnect();

  // One statement, parameters and results in binary. UNAVAILABLE
  // "store: <what>: <PostgreSQL's message>" on an error; sqlstate() says
  // which.
  absl::StatusOr<Result> Exec(absl::string_view what, const std::string& sql, const Params& params = Params());
  // Statements without parameters, separated by ';', in one round trip;
  // the last one's result (text format).
  absl::StatusOr<Result> ExecScript(absl::string_view what, const std::string& sql);
  // Every query in one round trip (libpq's pipeline mode), in order; the
  // first error stops the rest (PostgreSQL skips them) and is returned.
  // `results`, when given, gets one result per query.
  absl::Status Pipeline(absl::string_view what, const std::vector<Query>& queries,
                        std::vector<Result>* results = nullptr);

  // The SQLSTATE of the last error ("" for none, or a connection error).
  const std::string& sqlstate() const { return sqlstate_; }
  // A deadlock or a serialization failure: the transaction may be retried.
  bool Retryable() const { return sqlstate_ == "40P01" || sqlstate_ == "40001"; }

 private:
  explicit Conn(ConnectSpec spec) : spec_(std::move(spec)) {}
  absl::Status Connect();
  absl::Status Error(absl::string_view what, const PGresult* r);

  ConnectSpec spec_;
  PGconn* pg_ = nullptr;
  std::string sqlstate_;
};

}  // namespace switchboard::core::pg
