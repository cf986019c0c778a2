#pragma once
// The durable state of switchboardd: resources, the event log, the
// idempotency records and the jobs (job_queue.h), behind one interface so
// that a PostgreSQL implementation can take SQLite's place.
//
// All writes go through Commit: a Mutation is applied atomically, and its
// callback runs only after the transaction holding it is durable. Concurrent
// mutations are group-committed: many share one transaction and one fsync.

#include "absl/strings/string_view.h"
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/job.h"

namespace switchboard::core {

class JobQueue;

// One event of the global log. `data` is the complete serialized service
// event message (e.g. switchboard.v1.NotificationEvent) with its `sequence`
// (field 1) and `create_time` (field 2) filled in.
struct EventRecord {
  int64_t sequence = 0;
  int64_t create_time_us = 0;
  // "resourcing", "media" or "notification".
  std::string service;
  // The payload case, e.g. "bus_event", "run", "storage".
  std::string kind;
  // The resource the event is about ("runs/12"), and a second one it belongs
  // to ("workspaces/FISH"); watches filter on either.
  std::string resource;
  std::string related;
  std::string data;
};

// An event to append; the store assigns sequence and create_time.
struct EventDraft {
  std::string service;
  std::string kind;
  std::string resource;
  std::string related;
  // The serialized service event without fields 1 and 2.
  std::string payload;
};

struct ResourceWrite {
  std::string kind;
  std::string name;
  std::string value;
  bool erase = false;
};

struct ResourcePage {
  std::vector<std::pair<std::string, std::string>> items;  // name, value
  // Name to pass as `after_name` for the next page; empty on the last page.
  std::string next_after;
};

// Reads inside the committing transaction: they see every earlier mutation
// of the same batch, so read-modify-write is safe.
class TxnReader {
 public:
  virtual ~TxnReader() = default;
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view kind, absl::string_view name) = 0;
  // Resources of `kind` with names > after_name, in name order, at most
  // `limit`, as this transaction sees them (its batch's earlier writes
  // included).
  virtual absl::StatusOr<ResourcePage> List(absl::string_view kind, absl::string_view after_name, int limit) = 0;
  virtual int64_t NextSequence() const = 0;
  // An opaque, never-zero version of the routes (Mutation::changes_routes):
  // it differs from every value seen before once a mutation that changes
  // them has been applied, in this transaction or in any committed one, on
  // any replica. Read under the log counter's lock (every mutation with a
  // prepare or a write holds it), so an engine whose in-memory routes were
  // loaded (with List) at the version it sees here knows they are current.
  // A rolled-back transaction's version is never seen again.
  virtual uint64_t RoutesVersion() const = 0;
};

struct Mutation {
  // Idempotency: a repeat of (scope, request_id) returns the first response
  // and applies nothing. Empty request_id means no idempotency record.
  std::string scope;
  std::string request_id;
  // Identifies the request's content; a repeat with another fingerprint is
  // ALREADY_EXISTS.
  std::string fingerprint;
  // Optional: runs inside the transaction before the writes below are
  // applied; may add writes and events, or fail this mutation alone.
  std::function<absl::Status(TxnReader&, struct Mutation&)> prepare;
  std::vector<ResourceWrite> writes;
  std::vector<EventDraft> events;
  // Job writes (job.h), applied after `prepare` (which may add some) and
  // before the writes above, in order, in the same transaction:
  // a job is enqueued with the state it belongs to, and finished with the
  // outcome it records. One that is refused (a lease lost, a bad write)
  // refuses the whole mutation, and nothing of it is written.
  std::vector<JobWrite> jobs;
  // Set by a mutation that changes what other mutations' `prepare` reads
  // from an engine's memory: bus subscriptions and webhooks, which every
  // Publish routes by. Once it is applied, TxnReader::RoutesVersion() gives
  // a new value on every replica (store.h, TxnReader).
  bool changes_routes = false;
  // Builds the response stored for the request_id, given the sequence of the
  // mutation's last event (or the head of the log if it has none).
  std::function<std::string(int64_t last_sequence)> make_response;
};

struct CommitResult {
  // Sequence of the mutation's last event, or the log head if it had none.
  int64_t last_sequence = 0;
  // make_response's output, or the stored response on a repeat.
  std::string response;
  // True when this was a repeat of an earlier request_id.
  bool replayed = false;
  // One per Mutation::jobs entry, in order: the job written, with the lease
  // an enqueue-claim took or a heartbeat renewed (owner, token, expiry).
  // job_id is 0 for an enqueue that was de-duplicated. Empty on a repeat.
  std::vector<JobLease> jobs;
};

struct EventBatch {
  std::vector<EventRecord> events;
  // Every event with sequence <= scanned_through has been considered (the
  // filter may have skipped some). Continue reading after it.
  int64_t scanned_through = 0;
};

class Store {
 public:
  using CommitCallback = std::function<void(absl::StatusOr<CommitResult>)>;
  // Receives every committed event, in sequence order, right after the
  // transaction is durable. Called from the store's commit thread.
  using CommitListener = std::function<void(std::vector<std::shared_ptr<const EventRecord>>)>;

  virtual ~Store() = default;

  // Queues `m`; `done` runs once it is durable (or failed). Never blocks on
  // I/O. UNAVAILABLE once the store is closing.
  virtual void CommitAsync(Mutation m, CommitCallback done) = 0;
  // Blocking convenience wrapper.
  absl::StatusOr<CommitResult> Commit(Mutation m);

  virtual absl::StatusOr<std::optional<std::string>> GetResource(absl::string_view kind, absl::string_view name) = 0;
  // Resources of `kind` with names > after_name, in name order.
  virtual absl::StatusOr<ResourcePage> ListResources(absl::string_view kind, absl::string_view after_name,
                                                     int limit) = 0;
  // Up to `limit` events with sequence > after, of `service` if non-empty.
  virtual absl::StatusOr<EventBatch> ReadEvents(int64_t after, int limit, absl::string_view service) = 0;
  // Sequence of the last durable event (0 for an empty log).
  virtual int64_t HeadSequence() const = 0;

  struct Stats {
    // Transactions committed, and mutations they held: their ratio is the
    // group-commit factor.
    int64_t transactions = 0;
    int64_t mutations = 0;
    // PostgreSQL: the transactions that held the log counter's lock (every
    // replica's log writes queue behind it), the calls they carried, and
    // the microseconds they held it, from the lock granted to the COMMIT's
    // answer. 0 on SQLite.
    int64_t locked_transactions = 0;
    int64_t locked_mutations = 0;
    int64_t lock_hold_us = 0;
  };
  virtual Stats stats() const = 0;

  // The jobs kept in this store, written in its transactions.
  virtual JobQueue& jobs() = 0;

  virtual void SetCommitListener(CommitListener listener) = 0;
  // Finishes queued commits, then stops accepting new ones.
  virtual void Close() = 0;
};

// For a call refused before its mutation could be built, typically because
// its target is gone (a delete, or a dead letter already replayed, by this
// same request the first time): a repeat of m's (scope, request_id) still
// gets the first answer (replayed); anything else gets `why`. `m` needs its
// scope, request_id and fingerprint; its writes, events and jobs are ignored.
inline void CommitOrRefuse(Store& store, Mutation m, absl::Status why, Store::CommitCallback done) {
  if (m.request_id.empty()) return done(std::move(why));
  m.writes.clear();
  m.events.clear();
  m.jobs.clear();
  m.make_response = nullptr;
  m.prepare = [why = std::move(why)](TxnReader&, Mutation&) { return why; };
  store.CommitAsync(std::move(m), std::move(done));
}

struct SqliteOptions {
  // The database file; its folder must exist. One process opens it at a
  // time (the server holds the data dir's lock): opening makes every
  // RUNNING job READY again, since whoever held its lease is gone.
  std::string path;
  // Most mutations in one transaction.
  int max_batch = 1024;
  // Read connections kept open.
  int read_connections = 4;
  // Off: a job that completes is deleted in its completing transaction
  // instead of being kept as DONE until the pruner takes it (config
  // job_retention_seconds 0). A FAILED job is kept either way.
  bool keep_done_jobs = true;
};

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace switchboard::core
