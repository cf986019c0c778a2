#include "server/core/pg_conn.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "common/log.h"
#include "common/status.h"

namespace switchboard::core::pg {
namespace {

constexpr Oid kBytea = 17, kInt8 = 20, kText = 25, kByteaArray = 1001;

void PutInt32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string Trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return absl::StrReplaceAll(s, {{"\n", "; "}});
}

}  // namespace

std::string RedactUrl(absl::string_view url) {
  std::string out(url);
  // A URI's user:password@ part.
  for (absl::string_view scheme : {"postgresql://", "postgres://"}) {
    if (!absl::StartsWithIgnoreCase(out, scheme)) continue;
    size_t start = scheme.size();
    size_t end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
    break;
  }
  // password=... as a URI parameter or a keyword of a connection string.
  size_t pos = 0;
  for (;;) {
    std::string lower = absl::AsciiStrToLower(out);
    pos = lower.find("password", pos);
    if (pos == std::string::npos) break;
    size_t eq = pos + 8;
    while (eq < out.size() && out[eq] == ' ') ++eq;
    if (eq >= out.size() || out[eq] != '=') {
      pos += 8;
      continue;
    }
    size_t v = eq + 1;
    while (v < out.size() && out[v] == ' ') ++v;
    size_t e = v;
    if (e < out.size() && out[e] == '\'') {
      ++e;
      while (e < out.size() && out[e] != '\'') e += out[e] == '\\' ? 2 : 1;
      e = std::min(out.size(), e + 1);
    } else {
      while (e < out.size() && out[e] != '&' && out[e] != ' ') ++e;
    }
    out.replace(v, e - v, "***");
    pos = v + 3;
  }
  return out;
}

std::string QuoteIdent(absl::string_view ident) {
  return absl::StrCat("\"", absl::StrReplaceAll(ident, {{"\"", "\"\""}}), "\"");
}

int64_t Result::Int(int row, int col) const {
  const char* p = PQgetvalue(r_, row, col);
  int len = PQgetlength(r_, row, col);
  if (PQfformat(r_, col) == 0) return std::strtoll(p, nullptr, 10);
  uint64_t v = 0;
  for (int i = 0; i < len; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  // Sign-extend the shorter integer types.
  if (len == 2) return static_cast<int16_t>(v);
  if (len == 4) return static_cast<int32_t>(v);
  return static_cast<int64_t>(v);
}

int64_t Result::Changed() const {
  const char* n = r_ ? PQcmdTuples(r_) : "";
  return n[0] ? std::strtoll(n, nullptr, 10) : 0;
}

Params& Params::Add(Oid type, absl::string_view v, int owned) {
  types_.push_back(type);
  views_.push_back(v);
  owned_index_.push_back(owned);
  lengths_.push_back(static_cast<int>(v.size()));
  formats_.push_back(1);
  return *this;
}

const char* const* Params::values() const {
  values_.resize(views_.size());
  for (size_t i = 0; i < views_.size(); ++i) {
    const char* p = owned_index_[i] >= 0 ? owned_[static_cast<size_t>(owned_index_[i])].data() : views_[i].data();
    values_[i] = p ? p : "";
  }
  return values_.data();
}

Params& Params::Bytes(absl::string_view v) { return Add(kBytea, v, -1); }

Params& Params::Own(std::string v) {
  owned_.push_back(std::move(v));
  return Add(kBytea, owned_.back(), static_cast<int>(owned_.size()) - 1);
}

Params& Params::Text(absl::string_view v) { return Add(kText, v, -1); }

Params& Params::Int(int64_t v) {
  std::string b;
  for (int shift = 56; shift >= 0; shift -= 8) b.push_back(static_cast<char>((static_cast<uint64_t>(v) >> shift) & 0xff));
  Own(std::move(b));
  types_.back() = kInt8;
  return *this;
}

Params& Params::ByteaArray(const std::vector<absl::string_view>& v) {
  std::string b;
  PutInt32(b, v.empty() ? 0 : 1);  // dimensions
  PutInt32(b, 0);                  // no nulls
  PutInt32(b, kBytea);
  if (!v.empty()) {
    PutInt32(b, static_cast<uint32_t>(v.size()));
    PutInt32(b, 1);  // lower bound
    for (absl::string_view e : v) {
      PutInt32(b, static_cast<uint32_t>(e.size()));
      b.append(e.data(), e.size());
    }
  }
  Own(std::move(b));
  types_.back() = kByteaArray;
  return *this;
}

absl::StatusOr<std::unique_ptr<Conn>> Conn::Open(const ConnectSpec& spec) {
  std::unique_ptr<Conn> c(new Conn(spec));
  RETURN_IF_ERROR(c->Connect());
  return c;
}

absl::Status Conn::Connect() {
  PQfinish(pg_);
  pg_ = nullptr;
  const std::string idle = absl::StrCat(absl::ToInt64Seconds(spec_.keepalive_idle));
  const std::string interval = absl::StrCat(absl::ToInt64Seconds(spec_.keepalive_interval));
  const std::string count = absl::StrCat(spec_.keepalive_count);
  const std::string timeout = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(spec_.connect_timeout)));
  const std::string app = absl::StrCat("switchboardd ", spec_.role, " (", spec_.schema, ")");
  // Ours first: what the URL sets itself wins.
  const char* keys[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"1", idle.c_str(), interval.c_str(), count.c_str(), timeout.c_str(),
                          app.c_str(), spec_.url.c_str(), nullptr};
  pg_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (pg_ == nullptr || PQstatus(pg_) != CONNECTION_OK) {
    std::string msg = pg_ ? Trimmed(PQerrorMessage(pg_)) : "out of memory";
    PQfinish(pg_);
    pg_ = nullptr;
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL at ", RedactUrl(spec_.url), ": ", msg,
                                               "; check --store"));
  }
  // Warnings, and the FATAL of a session the server ends, go to the log
  // rather than to stderr bare.
  PQsetNoticeProcessor(
      pg_, [](void*, const char* message) { log::Warn("PostgreSQL says", {{"notice", Trimmed(message)}}); }, nullptr);
  // A stuck peer cannot hold the log counter's lock for ever, nor can a
  // session of ours that stalled inside a transaction.
  std::string settings = absl::StrCat(
      "SET search_path TO ", QuoteIdent(spec_.schema), "; SET lock_timeout = ",
      absl::ToInt64Milliseconds(spec_.lock_timeout), "; SET idle_in_transaction_session_timeout = ",
      absl::ToInt64Milliseconds(spec_.idle_in_transaction_timeout),
      "; SET default_transaction_isolation = 'read committed'; SET client_min_messages = warning");
  return ExecScript("session settings", settings).status();
}

absl::Status Conn::Reconnect() { return Connect(); }

absl::Status Conn::Error(absl::string_view what, const PGresult* r) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  sqlstate_ = state ? state : "";
  std::string msg = r ? Trimmed(PQresultErrorMessage(r)) : "";
  if (msg.empty() && pg_) msg = Trimmed(PQerrorMessage(pg_));
  if (msg.empty()) msg = "connection lost";
  return absl::UnavailableError(absl::StrCat("store: ", what, ": ", msg));
}

absl::StatusOr<Result> Conn::Exec(absl::string_view what, const std::string& sql, const Params& params) {
  if (pg_ == nullptr) return absl::UnavailableError(absl::StrCat("store: ", what, ": not connected to PostgreSQL"));
  Result r(PQexecParams(pg_, sql.c_str(), params.size(), params.types(), params.values(), params.lengths(),
                        params.formats(), /*resultFormat=*/1));
  ExecStatusType st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error(what, r.get());
  sqlstate_.clear();
  return r;
}

absl::StatusOr<Result> Conn::ExecScript(absl::string_view what, const std::string& sql) {
  if (pg_ == nullptr) return absl::UnavailableError(absl::StrCat("store: ", what, ": not connected to PostgreSQL"));
  Result r(PQexec(pg_, sql.c_str()));
  ExecStatusType st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error(what, r.get());
  sqlstate_.clear();
  return r;
}

absl::Status Conn::Pipeline(absl::string_view what, const std::vector<Query>& queries, std::vector<Result>* results) {
  if (pg_ == nullptr) return absl::UnavailableError(absl::StrCat("store: ", what, ": not connected to PostgreSQL"));
  if (queries.empty()) return absl::OkStatus();
  if (PQenterPipelineMode(pg_) != 1) return Error(what, nullptr);
  // A failure to send leaves the session in an unknown state: close it, so
  // that the next user reconnects.
  auto broken = [&](absl::Status s) {
    PQfinish(pg_);
    pg_ = nullptr;
    return s;
  };
  for (const Query& q : queries) {
    const Params& p = q.params;
    if (PQsendQueryParams(pg_, q.sql.c_str(), p.size(), p.types(), p.values(), p.lengths(), p.formats(), 1) != 1) {
      return broken(Error(what, nullptr));
    }
  }
  if (PQpipelineSync(pg_) != 1) return broken(Error(what, nullptr));
  absl::Status first;
  sqlstate_.clear();
  for (size_t i = 0; i < queries.size(); ++i) {
    Result r(PQgetResult(pg_));
    if (r.get() == nullptr) return broken(Error(what, nullptr));
    ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_ABORTED && first.ok()) {
      first = Error(what, r.get());
    }
    // Each query's results end with a null.
    while (PGresult* extra = PQgetResult(pg_)) PQclear(extra);
    if (results) results->push_back(std::move(r));
  }
  Result sync(PQgetResult(pg_));
  if (sync.get() == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    return broken(first.ok() ? Error(what, sync.get()) : first);
  }
  if (PQexitPipelineMode(pg_) != 1) return broken(first.ok() ? Error(what, nullptr) : first);
  return first;
}

}  // namespace switchboard::core::pg
