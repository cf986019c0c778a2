#pragma once
// One group-commit transaction of the PostgreSQL store (pg_store.cc): the
// queued calls of a batch, applied in order in one transaction on the
// writer's session, with store.h's rules (idempotency, `prepare`, job
// writes that refuse their whole mutation, no gap for a refused one).
//
// A batch that appends events, records a request_id, writes resources,
// runs a prepare or changes the routes first locks the one-row log counter
// (SELECT ... FOR UPDATE): that serializes those batches across replicas,
// so that sequence order is commit order, an idempotency check sees every
// earlier record, and a prepare's read-modify-write is as safe as on
// SQLite's one writer. A batch of job writes, claims and prunes alone does
// not take it. The row also holds the routes' version
// (TxnReader::RoutesVersion): read with the head under the lock, made new
// when a Mutation::changes_routes is applied, and written with the commit.
// The statements that need no answer (resource writes, the event and
// request inserts, the counter's update, NOTIFY, COMMIT) go in one
// pipeline.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/pg_conn.h"
#include "server/core/store.h"

namespace switchboard::core::pg {

// A queued call.
struct Pending {
  Mutation m;
  Store::CommitCallback done;
  // A claim or a prune instead of a mutation (`m` is empty): runs in the
  // writer's transaction at the batch's time, again if the batch is tried
  // again; `done` gets an empty CommitResult.
  std::function<absl::Status(Conn&, int64_t now_us)> op;
};

struct BatchOutcome {
  // Not OK: the transaction failed, and so did every call of the batch.
  absl::Status failed;
  // Per call, in order (when it committed): its answer, and whether it
  // appended events (then it is answered once they are delivered).
  std::vector<absl::StatusOr<CommitResult>> results;
  std::vector<bool> appended;
  // How long this batch held the log counter's lock, every try included
  // (zero when it did not take it): from the lock granted until the
  // COMMIT (or the failure) came back.
  absl::Duration lock_held;
};

// Runs `batch` in one transaction on `c`, NOTIFYing `channel` (payload:
// the new head) when it appends events. A deadlock, a serialization failure
// or a session lost before BEGIN went through rolls nothing forward, and
// the batch is tried again (up to 3 times), `prepare` included: what a
// prepare added to its mutation is taken off first. A session lost later
// leaves the outcome unknown: the batch fails UNAVAILABLE (a request_id
// makes the retry safe).
//
// `top_up`, when set, is called once the first try holds the counter's
// lock: it may append to `batch` what arrived while the lock was awaited
// (another replica held it), so that the hold carries them too.
//
// `keep_done_jobs` off: a completed job is deleted (PgOptions).
using TopUp = std::function<void(std::vector<Pending>& batch)>;
BatchOutcome CommitBatch(Conn& c, const std::string& channel, std::vector<Pending>& batch,
                         const TopUp& top_up = nullptr, bool keep_done_jobs = true);

// One page of resources (Store::ListResources) on `c`: a read session, or
// a batch's open transaction (TxnReader::List).
absl::StatusOr<ResourcePage> ListResources(Conn& c, absl::string_view kind, absl::string_view after_name, int limit);

}  // namespace switchboard::core::pg
