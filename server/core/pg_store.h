#pragma once
// The PostgreSQL implementation of Store and JobQueue (store.h,
// job_queue.h), for several switchboardd replicas sharing one database
// (docs/scale-out.md). SQLite (OpenSqliteStore) stays the default for one
// machine; `--store=postgres://...` selects this one.
//
// Each replica group-commits its own mutations. A batch's transaction locks
// the one-row log counter (SELECT ... FOR UPDATE), appends its events with
// the next sequences, bumps the counter and commits: the lock is released
// only once the commit is visible, so sequence order is commit order and
// the log has no gaps. Every replica tails the log (its own commits, a
// NOTIFY sent by every log transaction, and a poll behind both) and hands
// the events to its commit listener in sequence order, whichever replica
// wrote them. Job claims use FOR UPDATE SKIP LOCKED and never take the
// counter lock.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/store.h"

namespace switchboard::core {

struct PgOptions {
  // A libpq connection string or URI ("postgresql:///switchboard?host=/tmp/x").
  std::string url;
  // The schema holding the tables; made if missing. Tests give each store
  // its own, so that they share one database without seeing each other.
  std::string schema = "switchboard";
  // Most mutations in one transaction.
  int max_batch = 256;
  // Read connections kept open.
  int read_connections = 4;
  // As SqliteOptions::keep_done_jobs.
  bool keep_done_jobs = true;
  // How often the log tailer polls when no commit or NOTIFY woke it.
  absl::Duration poll_interval = absl::Seconds(1);
  // Off: the tailer does not LISTEN and relies on its own commits and the
  // poll (the benchmark's "NOTIFY off").
  bool listen = true;
  // Bounds on a stuck peer: lock_timeout for the counter lock, and
  // idle_in_transaction_session_timeout, on every session.
  absl::Duration lock_timeout = absl::Seconds(10);
  absl::Duration idle_in_transaction_timeout = absl::Seconds(15);
  // TCP keepalives on every session (ignored on a unix socket): a peer
  // that vanished is noticed after idle + interval * count.
  absl::Duration keepalive_idle = absl::Seconds(10);
  absl::Duration keepalive_interval = absl::Seconds(5);
  int keepalive_count = 3;
  absl::Duration connect_timeout = absl::Seconds(10);
  // Close waits at most this long for the log tailer to deliver what this
  // store committed before it runs the last callbacks anyway.
  absl::Duration close_drain = absl::Seconds(10);
};

absl::StatusOr<std::unique_ptr<Store>> OpenPgStore(const PgOptions& options);

}  // namespace switchboard::core
