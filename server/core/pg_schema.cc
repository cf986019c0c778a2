#include "server/core/pg_schema.h"

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/status.h"
#include "server/core/job_pg.h"

namespace switchboard::core::pg {
namespace {

// log_counter holds the head of the log (the last sequence given) and the
// create time of its last event: a batch locks the row (FOR UPDATE), takes
// the next sequences and a create time no earlier than the last, and
// updates it in the transaction that appends the events, so that sequence
// order is commit order and the log has no gap. It also holds the routes'
// version (TxnReader::RoutesVersion, never 0), read under the same lock and
// set to a new random value by a batch that changes the routes; a schema
// from before it gets the column (the DO block, so that no ALTER, and no
// lock on the table, comes once it is there). requests holds the
// idempotency records, keyed by request_id alone (a request_id names one
// request of one RPC: the same id under another scope is a conflict).
// Strings are bytea: opaque bytes, compared bytewise as SQLite does.
constexpr const char* kLogSchema = R"sql(
CREATE TABLE IF NOT EXISTS log_counter(
  id smallint PRIMARY KEY CHECK (id = 1),
  head bigint NOT NULL,
  create_us bigint NOT NULL,
  routes_version bigint NOT NULL DEFAULT 1);
INSERT INTO log_counter(id, head, create_us) VALUES(1, 0, 0) ON CONFLICT DO NOTHING;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'log_counter'::regclass
                 AND attname = 'routes_version' AND NOT attisdropped) THEN
    ALTER TABLE log_counter ADD COLUMN routes_version bigint NOT NULL DEFAULT 1;
  END IF;
END $$;
CREATE TABLE IF NOT EXISTS events(
  seq bigint PRIMARY KEY,
  create_us bigint NOT NULL,
  service bytea NOT NULL,
  kind bytea NOT NULL,
  resource bytea NOT NULL,
  related bytea NOT NULL,
  data bytea NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_service ON events(service, seq);
CREATE TABLE IF NOT EXISTS resources(
  kind bytea NOT NULL,
  name bytea NOT NULL,
  value bytea NOT NULL,
  PRIMARY KEY(kind, name));
CREATE TABLE IF NOT EXISTS requests(
  request_id bytea PRIMARY KEY,
  scope bytea NOT NULL,
  fingerprint bytea NOT NULL,
  response bytea NOT NULL,
  create_us bigint NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, value text NOT NULL);
INSERT INTO meta(key, value) VALUES('schema_version', '1') ON CONFLICT DO NOTHING;
)sql";

}  // namespace

absl::Status EnsureSchema(Conn& c, const std::string& schema) {
  // A schema made by this very script (its hash in meta) is left alone, and
  // no lock is taken: the script's CREATE INDEX IF NOT EXISTS statements
  // take a SHARE lock on their tables even when the index is there, and held
  // together in one transaction they deadlock with the writes of replicas
  // already running (seen: a replica restarted under load exited with
  // "deadlock detected"). A changed script runs once, on the first start of
  // the build that changed it.
  const std::string script_sha = Sha256Hex(absl::StrCat(kLogSchema, kJobSchema));
  const std::string meta = absl::StrCat(QuoteIdent(schema), ".meta");
  Params name;
  name.Text(meta);
  absl::StatusOr<Result> found = c.Exec("look for the schema", "SELECT to_regclass($1) IS NOT NULL", name);
  if (found.ok() && found->rows() == 1 && found->View(0, 0) == absl::string_view("\x01", 1)) {
    const std::string sql = absl::StrCat("SELECT value FROM ", meta, " WHERE key = 'schema_script_sha256'");
    absl::StatusOr<Result> made = c.Exec("read the schema's version", sql);
    if (made.ok() && made->rows() == 1 && made->View(0, 0) == script_sha) return absl::OkStatus();
  }
  // Not there yet, or made by another script. The advisory lock's key is
  // fixed: every store's creation waits for any other's, which costs
  // nothing at start and rules out CREATE races (two CREATE SCHEMA IF NOT
  // EXISTS at once can fail on the catalog's unique index). If this script
  // still deadlocks with a running replica's writes (a new build's first
  // start beside older ones) and PostgreSQL picks it to fail, it runs again.
  std::string script = absl::StrCat(
      "BEGIN; SELECT pg_advisory_xact_lock(7301163242); CREATE SCHEMA IF NOT EXISTS ", QuoteIdent(schema),
      "; SET LOCAL search_path TO ", QuoteIdent(schema), ";", kLogSchema, kJobSchema,
      "INSERT INTO meta(key, value) VALUES('schema_script_sha256', '", script_sha,
      "') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value; COMMIT;");
  absl::StatusOr<Result> r = c.ExecScript("create schema", script);
  for (int retries = 3; !r.ok() && c.sqlstate() == "40P01" && retries > 0; --retries) {  // deadlock_detected
    (void)c.ExecScript("rollback", "ROLLBACK");
    r = c.ExecScript("create schema", script);
  }
  if (!r.ok()) {
    (void)c.ExecScript("rollback", "ROLLBACK");
    return absl::UnavailableError(absl::StrCat(r.status().message(), "; check that the --store user may create schema ",
                                               QuoteIdent(schema), " and its tables"));
  }
  return absl::OkStatus();
}

std::string LogChannel(absl::string_view schema) {
  std::string channel = absl::StrCat("sb_log_", schema);
  if (channel.size() > 63) {
    channel.resize(63);
    // Not in the middle of a UTF-8 sequence.
    while (!channel.empty() && (static_cast<unsigned char>(channel.back()) & 0xc0) == 0x80) channel.pop_back();
    if (!channel.empty() && static_cast<unsigned char>(channel.back()) >= 0xc0) channel.pop_back();
  }
  return channel;
}

}  // namespace switchboard::core::pg
