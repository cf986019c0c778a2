// SQLite implementation of Store: WAL mode, synchronous=FULL, one writer
// thread that group-commits queued mutations, and a small pool of read
// connections (WAL lets readers run beside the writer). It is also the
// JobQueue of its jobs (job_queue.h; the SQL is in job_sqlite.cc): job
// writes ride mutations, and claims join the writer's queue, so both are
// serialized with every commit.

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/thread_name.h"
#include "server/core/job_queue.h"
#include "server/core/job_sqlite.h"
#include "server/core/request_index.h"
#include "server/core/sqlite_stmt.h"
#include "server/core/store.h"
#include "server/core/store_rules.h"
#include "server/core/wal_checkpointer.h"

namespace switchboard::core {

absl::StatusOr<CommitResult> Store::Commit(Mutation m) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<CommitResult>> result;
  CommitAsync(std::move(m), [&](absl::StatusOr<CommitResult> r) {
    std::lock_guard<std::mutex> lock(mu);
    result = std::move(r);
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  return std::move(*result);
}

namespace {

using sqlite::SqlError;
using sqlite::Stmt;
using sqlite::Use;
using sqlite::MigrateOnce;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY,
  create_us INTEGER NOT NULL,
  service TEXT NOT NULL,
  kind TEXT NOT NULL,
  resource TEXT NOT NULL,
  related TEXT NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_service ON events(service, seq);
CREATE TABLE IF NOT EXISTS resources(
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY(kind, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS request_log(
  id INTEGER PRIMARY KEY,
  scope TEXT NOT NULL,
  request_id TEXT NOT NULL,
  fingerprint BLOB NOT NULL,
  response BLOB NOT NULL,
  create_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '2');
)sql";

// Schema 1 kept the idempotency records in `requests`, a B-tree keyed by
// (scope, request_id); schema 2 appends them to request_log and indexes
// them in memory (request_index.h). Runs once, in one transaction.
constexpr const char* kMigrateRequests = R"sql(
BEGIN IMMEDIATE;
INSERT INTO request_log(scope, request_id, fingerprint, response, create_us)
  SELECT scope, request_id, fingerprint, response, create_us FROM requests ORDER BY create_us;
DROP TABLE requests;
UPDATE meta SET value='2' WHERE key='schema_version';
COMMIT;
)sql";

// SQLite keeps memory statistics by default, which takes one process-wide
// mutex around every allocation and free of every connection (a few per
// statement); nothing here reads them. Set before SQLite's first use, once;
// later it is refused (SQLITE_MISUSE) and the default stays, which is only
// slower.
void TuneSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

absl::StatusOr<sqlite3*> OpenDb(const std::string& path, bool writer) {
  TuneSqliteOnce();
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open store '", path, "': ", msg,
                                               "; check that --data_dir exists and is writable"));
  }
  sqlite3_busy_timeout(db, 10000);
  // The writer's page cache holds the hot parts of the indexes (random
  // request ids and operation names land all over them); every connection
  // reads the database file through one shared memory map instead of
  // copying pages in with pread. The writer keeps its temporary data in
  // memory: a statement that changes many rows inside the writer's
  // transaction (a claim of a batch of jobs) saves the pages it changes, to
  // undo that statement alone if it fails, and past 64 KiB SQLite otherwise
  // puts them in a temporary file of its own, created and deleted for each
  // such statement.
  const char* pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; "
                                 "PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824; PRAGMA temp_store=MEMORY;"
                               : "PRAGMA synchronous=FULL; PRAGMA cache_size=-8192; PRAGMA mmap_size=1073741824;";
  if (absl::Status s = sqlite::Exec(db, pragmas, "pragmas"); !s.ok()) {
    sqlite3_close(db);
    return s;
  }
  return db;
}

struct ReadConn {
  sqlite3* db = nullptr;
  Stmt get_resource;
  Stmt list_resources;
  Stmt read_all;
  Stmt read_service;
  Stmt head;
  Stmt get_job;
  Stmt count_jobs;
  Stmt find_job;
  sqlite::JobTable::CountStmts count_states;
  ~ReadConn() {
    // Members are destroyed after this body; statements must be finalized
    // before the connection can close.
    for (Stmt* s : {&get_resource, &list_resources, &read_all, &read_service, &head, &get_job, &count_jobs,
                     &find_job}) {
      s->Finalize();
    }
    count_states.Finalize();
    sqlite3_close(db);
  }
};

class SqliteStore final : public Store, public JobQueue {
 public:
  explicit SqliteStore(SqliteOptions options) : options_(std::move(options)) {}

  ~SqliteStore() override {
    Close();
    pool_.clear();
    FinalizeWriter();
  }

  absl::Status Init() {
    ASSIGN_OR_RETURN(writer_, OpenDb(options_.path, /*writer=*/true));
    RETURN_IF_ERROR(sqlite::Exec(writer_, kSchema, "schema"));
    RETURN_IF_ERROR(w_begin_.Prepare(writer_, "BEGIN IMMEDIATE"));
    RETURN_IF_ERROR(w_commit_.Prepare(writer_, "COMMIT"));
    RETURN_IF_ERROR(w_rollback_.Prepare(writer_, "ROLLBACK"));
    RETURN_IF_ERROR(w_savepoint_.Prepare(writer_, "SAVEPOINT jobs"));
    RETURN_IF_ERROR(w_release_.Prepare(writer_, "RELEASE jobs"));
    RETURN_IF_ERROR(w_rollback_to_.Prepare(writer_, "ROLLBACK TO jobs"));
    RETURN_IF_ERROR(jobs_.Open(writer_, options_.keep_done_jobs));
    RETURN_IF_ERROR(MigrateRequests());
    RETURN_IF_ERROR(LoadRequestIndex());
    RETURN_IF_ERROR(w_get_request_.Prepare(
        writer_, "SELECT scope, request_id, fingerprint, response FROM request_log WHERE id=?1"));
    RETURN_IF_ERROR(w_put_request_.Prepare(
        writer_,
        "INSERT INTO request_log(scope, request_id, fingerprint, response, create_us) VALUES(?1,?2,?3,?4,?5)"));
    RETURN_IF_ERROR(w_get_resource_.Prepare(writer_, "SELECT value FROM resources WHERE kind=?1 AND name=?2"));
    RETURN_IF_ERROR(w_list_resources_.Prepare(
        writer_, "SELECT name, value FROM resources WHERE kind=?1 AND name>?2 ORDER BY name LIMIT ?3"));
    RETURN_IF_ERROR(w_put_resource_.Prepare(
        writer_, "INSERT INTO resources(kind, name, value) VALUES(?1,?2,?3) "
                 "ON CONFLICT(kind, name) DO UPDATE SET value=excluded.value"));
    RETURN_IF_ERROR(w_del_resource_.Prepare(writer_, "DELETE FROM resources WHERE kind=?1 AND name=?2"));
    RETURN_IF_ERROR(w_put_event_.Prepare(
        writer_, "INSERT INTO events(seq, create_us, service, kind, resource, related, data) "
                 "VALUES(?1,?2,?3,?4,?5,?6,?7)"));
    Stmt head;  // finalized at the end of Init
    RETURN_IF_ERROR(head.Prepare(writer_, "SELECT COALESCE(MAX(seq), 0) FROM events"));
    {
      Use u(head);
      if (u.Step() != SQLITE_ROW) return SqlError(writer_, "read log head");
      next_seq_ = u.ColInt(0) + 1;
    }
    head_.store(next_seq_ - 1);
    for (int i = 0; i < std::max(1, options_.read_connections); ++i) {
      auto conn = std::make_unique<ReadConn>();
      ASSIGN_OR_RETURN(conn->db, OpenDb(options_.path, /*writer=*/false));
      RETURN_IF_ERROR(conn->get_resource.Prepare(conn->db, "SELECT value FROM resources WHERE kind=?1 AND name=?2"));
      RETURN_IF_ERROR(conn->list_resources.Prepare(
          conn->db, "SELECT name, value FROM resources WHERE kind=?1 AND name>?2 ORDER BY name LIMIT ?3"));
      RETURN_IF_ERROR(conn->read_all.Prepare(
          conn->db, "SELECT seq, create_us, service, kind, resource, related, data FROM events "
                    "WHERE seq>?1 ORDER BY seq LIMIT ?2"));
      RETURN_IF_ERROR(conn->read_service.Prepare(
          conn->db, "SELECT seq, create_us, service, kind, resource, related, data FROM events "
                    "WHERE service=?3 AND seq>?1 ORDER BY seq LIMIT ?2"));
      RETURN_IF_ERROR(conn->head.Prepare(conn->db, "SELECT COALESCE(MAX(seq), 0) FROM events"));
      RETURN_IF_ERROR(sqlite::JobTable::PrepareGet(conn->db, &conn->get_job));
      RETURN_IF_ERROR(sqlite::JobTable::PrepareCount(conn->db, &conn->count_jobs));
      RETURN_IF_ERROR(sqlite::JobTable::PrepareFind(conn->db, &conn->find_job));
      RETURN_IF_ERROR(sqlite::JobTable::PrepareCountByState(conn->db, &conn->count_states));
      free_.push_back(conn.get());
      pool_.push_back(std::move(conn));
    }
    ASSIGN_OR_RETURN(sqlite3 * checkpoint_db, OpenDb(options_.path, /*writer=*/false));
    ASSIGN_OR_RETURN(checkpointer_, WalCheckpointer::Start(checkpoint_db, writer_, kCheckpointPages));
    writer_thread_ = NamedThread("store-writer", [this] { WriterLoop(); });
    completion_thread_ = NamedThread("store-done", [this] { CompletionLoop(); });
    return absl::OkStatus();
  }

  void CommitAsync(Mutation m, CommitCallback done) override {
    Submit(Pending{std::move(m), std::move(done), nullptr});
  }

  JobQueue& jobs() override { return *this; }

  void Claim(std::string kind, std::string owner, int n, absl::Duration lease, ClaimDone done) override {
    if (absl::Status s = CheckClaim(kind, owner, n, lease); !s.ok()) return done(s);
    auto out = std::make_shared<std::vector<Job>>();
    Pending p;
    p.claim = [this, kind = std::move(kind), owner = std::move(owner), n, lease_us = absl::ToInt64Microseconds(lease),
               out](int64_t now_us) { return jobs_.Claim(kind, owner, n, now_us, lease_us, out.get()); };
    p.done = [out, done = std::move(done)](absl::StatusOr<CommitResult> r) {
      if (!r.ok()) return done(r.status());
      done(std::move(*out));
    };
    Submit(std::move(p));
  }

  void Write(JobWrite write, WriteDone done) override {
    Mutation m;
    m.jobs.push_back(std::move(write));
    CommitAsync(std::move(m), [done = std::move(done)](absl::StatusOr<CommitResult> r) {
      if (!r.ok()) return done(r.status());
      done(r->jobs.empty() ? JobLease{} : r->jobs.front());
    });
  }

  absl::StatusOr<std::optional<Job>> GetJob(int64_t id) override {
    Lease lease(this);
    return sqlite::JobTable::Get(lease->db, lease->get_job, id);
  }

  absl::StatusOr<int64_t> CountUnfinished(const std::string& kind) override {
    Lease lease(this);
    return sqlite::JobTable::CountUnfinished(lease->db, lease->count_jobs, kind);
  }

  absl::StatusOr<Counts> CountByState(const std::string& kind, bool prefix) override {
    Lease lease(this);
    return sqlite::JobTable::CountByState(lease->db, lease->count_states, kind, prefix);
  }

  absl::StatusOr<std::optional<Job>> FindUnfinished(const std::string& kind, const std::string& key) override {
    RETURN_IF_ERROR(CheckFind(kind, key));
    Lease lease(this);
    return sqlite::JobTable::FindUnfinished(lease->db, lease->find_job, kind, key);
  }

  void Prune(absl::Time finished_before, int n, PruneDone done) override {
    if (absl::Status s = CheckPrune(n); !s.ok()) return done(s);
    auto deleted = std::make_shared<int>(0);
    Pending p;
    p.claim = [this, before_us = absl::ToUnixMicros(finished_before), n, deleted](int64_t) -> absl::Status {
      ASSIGN_OR_RETURN(*deleted, jobs_.Prune(before_us, n));
      return absl::OkStatus();
    };
    p.done = [deleted, done = std::move(done)](absl::StatusOr<CommitResult> r) {
      if (!r.ok()) return done(r.status());
      done(*deleted);
    };
    Submit(std::move(p));
  }

  void ReleaseOwnedBy(std::string owner_prefix, PruneDone done) override {
    if (absl::Status s = CheckReleasePrefix(owner_prefix); !s.ok()) return done(s);
    auto released = std::make_shared<int>(0);
    Pending p;
    p.claim = [this, owner_prefix = std::move(owner_prefix), released](int64_t) -> absl::Status {
      ASSIGN_OR_RETURN(*released, jobs_.ReleaseOwnedBy(owner_prefix));
      return absl::OkStatus();
    };
    p.done = [released, done = std::move(done)](absl::StatusOr<CommitResult> r) {
      if (!r.ok()) return done(r.status());
      done(*released);
    };
    Submit(std::move(p));
  }

  absl::StatusOr<std::optional<std::string>> GetResource(absl::string_view kind, absl::string_view name) override {
    Lease lease(this);
    Use u(lease->get_resource);
    u.Text(1, kind).Text(2, name);
    int rc = u.Step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return SqlError(lease->db, "get resource");
    return std::optional<std::string>(u.Col(0));
  }

  absl::StatusOr<ResourcePage> ListResources(absl::string_view kind, absl::string_view after_name,
                                             int limit) override {
    Lease lease(this);
    return ListPage(lease->db, lease->list_resources, kind, after_name, limit);
  }

  absl::StatusOr<EventBatch> ReadEvents(int64_t after, int limit, absl::string_view service) override {
    Lease lease(this);
    EventBatch batch;
    char* err = nullptr;
    // One read transaction, so that the head read below matches the rows.
    if (sqlite3_exec(lease->db, "BEGIN", nullptr, nullptr, &err) != SQLITE_OK) {
      sqlite3_free(err);
      return SqlError(lease->db, "begin read");
    }
    absl::Status status;
    {
      Use u(service.empty() ? lease->read_all : lease->read_service);
      u.Int(1, after).Int(2, limit);
      if (!service.empty()) u.Text(3, service);
      int rc;
      while ((rc = u.Step()) == SQLITE_ROW) {
        EventRecord r;
        r.sequence = u.ColInt(0);
        r.create_time_us = u.ColInt(1);
        r.service = u.Col(2);
        r.kind = u.Col(3);
        r.resource = u.Col(4);
        r.related = u.Col(5);
        r.data = u.Col(6);
        batch.events.push_back(std::move(r));
      }
      if (rc != SQLITE_DONE) status = SqlError(lease->db, "read events");
    }
    if (status.ok()) {
      if (static_cast<int>(batch.events.size()) == limit) {
        batch.scanned_through = batch.events.back().sequence;
      } else {
        Use h(lease->head);
        batch.scanned_through = h.Step() == SQLITE_ROW ? h.ColInt(0) : after;
      }
    }
    sqlite3_exec(lease->db, "COMMIT", nullptr, nullptr, nullptr);
    if (!status.ok()) return status;
    if (batch.scanned_through < after) batch.scanned_through = after;
    return batch;
  }

  int64_t HeadSequence() const override { return head_.load(std::memory_order_acquire); }

  Stats stats() const override {
    return Stats{transactions_.load(std::memory_order_relaxed), mutations_.load(std::memory_order_relaxed)};
  }

  void SetCommitListener(CommitListener listener) override {
    std::lock_guard<std::mutex> lock(queue_mu_);
    listener_ = std::move(listener);
  }

  void Close() override {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      if (closing_) return;
      closing_ = true;
      queue_cv_.notify_all();
    }
    if (writer_thread_.joinable()) writer_thread_.join();
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_stop_ = true;
      done_cv_.notify_all();
    }
    if (completion_thread_.joinable()) completion_thread_.join();
  }

 private:
  struct Pending {
    Mutation m;
    CommitCallback done;
    // A claim or a prune instead of a mutation (`m` is empty): runs in the
    // writer's transaction at the batch's time; `done` gets an empty
    // CommitResult.
    std::function<absl::Status(int64_t now_us)> claim;
  };

  void Submit(Pending p) {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      if (!closing_) {
        queue_.push_back(std::move(p));
        queue_cv_.notify_one();
        return;
      }
    }
    p.done(absl::UnavailableError("store is shutting down; retry against a running server"));
  }
  struct Completed {
    CommitListener listener;
    std::vector<std::shared_ptr<const EventRecord>> events;
    // The batch's mutations (their `done` to call), with results[i] for
    // batch[i]: they are destroyed on the completion thread too, not the
    // writer's.
    std::vector<Pending> batch;
    std::vector<absl::StatusOr<CommitResult>> results;
  };

  class Lease {
   public:
    explicit Lease(SqliteStore* s) : s_(s) {
      std::unique_lock<std::mutex> lock(s_->pool_mu_);
      s_->pool_cv_.wait(lock, [&] { return !s_->free_.empty(); });
      c_ = s_->free_.back();
      s_->free_.pop_back();
    }
    ~Lease() {
      std::lock_guard<std::mutex> lock(s_->pool_mu_);
      s_->free_.push_back(c_);
      s_->pool_cv_.notify_one();
    }
    ReadConn* operator->() { return c_; }

   private:
    SqliteStore* s_;
    ReadConn* c_;
  };

  // One page of resources with `list` (a read connection's, or the
  // writer's inside its transaction).
  static absl::StatusOr<ResourcePage> ListPage(sqlite3* db, Stmt& list, absl::string_view kind,
                                               absl::string_view after_name, int limit) {
    Use u(list);
    u.Text(1, kind).Text(2, after_name).Int(3, limit + 1);
    ResourcePage page;
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) page.items.emplace_back(u.Col(0), u.Col(1));
    if (rc != SQLITE_DONE) return SqlError(db, "list resources");
    if (static_cast<int>(page.items.size()) > limit) {
      page.items.pop_back();
      page.next_after = page.items.back().first;
    }
    return page;
  }

  class WriterReader final : public TxnReader {
   public:
    explicit WriterReader(SqliteStore* s) : s_(s) {}
    absl::StatusOr<std::optional<std::string>> Get(absl::string_view kind, absl::string_view name) override {
      Use u(s_->w_get_resource_);
      u.Text(1, kind).Text(2, name);
      int rc = u.Step();
      if (rc == SQLITE_DONE) return std::optional<std::string>();
      if (rc != SQLITE_ROW) return SqlError(s_->writer_, "get resource");
      return std::optional<std::string>(u.Col(0));
    }
    absl::StatusOr<ResourcePage> List(absl::string_view kind, absl::string_view after_name, int limit) override {
      return ListPage(s_->writer_, s_->w_list_resources_, kind, after_name, limit);
    }
    int64_t NextSequence() const override { return s_->next_seq_; }
    // One process writes: the writer's own, with no lock to take.
    uint64_t RoutesVersion() const override { return s_->routes_version_; }

   private:
    SqliteStore* s_;
  };

  bool Exec(Stmt& s) {
    Use u(s);
    return u.Step() == SQLITE_DONE;
  }

  // Converts a schema-1 store's idempotency records (kMigrateRequests).
  absl::Status MigrateRequests() {
    ASSIGN_OR_RETURN(bool moved, MigrateOnce(writer_, "table", "requests", kMigrateRequests,
                                             "moving idempotency records to request_log"));
    if (moved) log::Info("store: idempotency records moved to request_log (schema 2)");
    return absl::OkStatus();
  }

  // Fills the in-memory index of the idempotency records (at open).
  absl::Status LoadRequestIndex() {
    Stmt all;
    RETURN_IF_ERROR(all.Prepare(writer_, "SELECT id, scope, request_id FROM request_log"));
    Use u(all);
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) {
      requests_.Add(u.ColText(2), u.ColInt(0));
    }
    if (rc != SQLITE_DONE) return SqlError(writer_, "read request_log");
    return absl::OkStatus();
  }

  struct StoredRequest {
    std::string fingerprint;
    std::string response;
  };
  // The committed (or earlier in this transaction) record of (scope,
  // request_id), if any. ALREADY_EXISTS when request_id was recorded under
  // another scope: an id names one request of one RPC.
  absl::StatusOr<std::optional<StoredRequest>> FindRequest(absl::string_view scope, absl::string_view request_id) {
    for (int64_t rowid : requests_.Candidates(request_id)) {
      Use u(w_get_request_);
      u.Int(1, rowid);
      int rc = u.Step();
      if (rc == SQLITE_DONE) continue;
      if (rc != SQLITE_ROW) return SqlError(writer_, "idempotency lookup");
      if (u.ColText(1) != request_id) continue;  // another record, same hash
      if (u.ColText(0) != scope) return RequestIdUsedElsewhere(request_id, u.ColText(0), scope);
      return std::optional<StoredRequest>(StoredRequest{u.Col(2), u.Col(3)});
    }
    return std::optional<StoredRequest>();
  }

  // Applies one mutation inside the open transaction. Every check that
  // refuses a mutation (idempotency, `prepare`) runs before its first write,
  // so a refused mutation leaves nothing to undo and needs no savepoint. An
  // error after a write (I/O: a statement failing) sets `*wrote`, and then
  // the caller rolls the whole transaction back.
  absl::StatusOr<CommitResult> Apply(Mutation& m, int64_t now_us,
                                     std::vector<std::shared_ptr<const EventRecord>>& out_events, bool* wrote) {
    if (!m.request_id.empty()) {
      ASSIGN_OR_RETURN(std::optional<StoredRequest> earlier, FindRequest(m.scope, m.request_id));
      if (earlier) {
        if (earlier->fingerprint != m.fingerprint) return RequestIdConflict(m.scope, m.request_id);
        CommitResult repeat;
        repeat.response = std::move(earlier->response);
        repeat.replayed = true;
        return repeat;
      }
    }
    if (m.prepare) {
      WriterReader reader(this);
      RETURN_IF_ERROR(m.prepare(reader, m));
    }
    std::vector<JobLease> leases;
    if (!m.jobs.empty()) {
      ASSIGN_OR_RETURN(leases, ApplyJobs(m.jobs, now_us, wrote));
    }
    *wrote = true;
    for (const auto& w : m.writes) {
      Use u(w.erase ? w_del_resource_ : w_put_resource_);
      u.Text(1, w.kind).Text(2, w.name);
      if (!w.erase) u.Blob(3, w.value);
      if (u.Step() != SQLITE_DONE) return SqlError(writer_, "write resource");
    }
    int64_t last = next_seq_ - 1;
    for (auto& e : m.events) {
      auto rec = std::make_shared<EventRecord>();
      rec->sequence = next_seq_;
      rec->create_time_us = now_us;
      rec->service = std::move(e.service);
      rec->kind = std::move(e.kind);
      rec->resource = std::move(e.resource);
      rec->related = std::move(e.related);
      rec->data = FinalizeEvent(std::move(e.payload), rec->sequence, now_us);
      Use u(w_put_event_);
      u.Int(1, rec->sequence).Int(2, now_us).Text(3, rec->service).Text(4, rec->kind);
      u.Text(5, rec->resource).Text(6, rec->related).Blob(7, rec->data);
      if (u.Step() != SQLITE_DONE) return SqlError(writer_, "append event");
      last = next_seq_++;
      out_events.push_back(std::move(rec));
    }
    // Applied: what later prepares read has changed (a rollback gives
    // another version again, RunBatch).
    if (m.changes_routes) routes_version_ = NewRoutesVersion();
    CommitResult result;
    result.last_sequence = last;
    if (m.make_response) result.response = m.make_response(last);
    result.jobs = std::move(leases);
    if (!m.request_id.empty()) {
      Use u(w_put_request_);
      u.Text(1, m.scope).Text(2, m.request_id).Blob(3, m.fingerprint).Blob(4, result.response).Int(5, now_us);
      if (u.Step() != SQLITE_DONE) return SqlError(writer_, "record request");
      int64_t rowid = sqlite3_last_insert_rowid(writer_);
      requests_.Add(m.request_id, rowid);
      txn_requests_.push_back({m.scope, m.request_id, rowid});
    }
    return result;
  }

  // The job writes of one mutation, in order, before its other writes. A
  // refused one (bad write, job gone, lease lost) undoes those before it
  // (a savepoint, when there are several) and refuses the mutation with
  // nothing written; an I/O error sets `*wrote`, and the caller rolls the
  // transaction back.
  absl::StatusOr<std::vector<JobLease>> ApplyJobs(const std::vector<JobWrite>& writes, int64_t now_us, bool* wrote) {
    const bool savepoint = writes.size() > 1;
    auto io_error = [&](absl::Status s) {
      *wrote = true;
      return s;
    };
    if (savepoint && !Exec(w_savepoint_)) return io_error(SqlError(writer_, "savepoint"));
    std::vector<JobLease> leases;
    leases.reserve(writes.size());
    bool job_wrote = false;
    for (const JobWrite& w : writes) {
      absl::StatusOr<JobLease> l = jobs_.Apply(w, now_us, &job_wrote);
      if (l.ok()) {
        leases.push_back(std::move(*l));
        continue;
      }
      if (absl::IsUnavailable(l.status())) return io_error(l.status());  // SqlError: I/O
      if (savepoint && (!Exec(w_rollback_to_) || !Exec(w_release_))) {
        return io_error(SqlError(writer_, "rollback to savepoint"));
      }
      return l.status();
    }
    if (savepoint && !Exec(w_release_)) return io_error(SqlError(writer_, "release savepoint"));
    if (job_wrote) *wrote = true;
    return leases;
  }

  void WriterLoop() {
    std::vector<Pending> batch;
    for (;;) {
      CommitListener listener;
      {
        std::unique_lock<std::mutex> lock(queue_mu_);
        queue_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
        if (queue_.empty()) return;  // closing and drained
        while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        listener = listener_;
      }
      RunBatch(batch, listener);
      batch.clear();
    }
  }

  void RunBatch(std::vector<Pending>& batch, const CommitListener& listener) {
    std::vector<absl::StatusOr<CommitResult>> results;
    results.reserve(batch.size());
    std::vector<std::shared_ptr<const EventRecord>> events;
    const int64_t start_seq = next_seq_;
    const uint64_t start_routes = routes_version_;
    const int64_t now_us = absl::ToUnixMicros(absl::Now());
    if (!Exec(w_begin_)) {
      absl::Status s = SqlError(writer_, "begin");
      for (auto& p : batch) p.done(s);
      return;
    }
    auto fail_all = [&](const absl::Status& s) {
      log::Error("store transaction failed", {{"error", std::string(s.message())}});
      Exec(w_rollback_);
      next_seq_ = start_seq;
      // A prepare may have loaded routes at the rolled-back version: a new
      // one (never that one) makes it load them again.
      if (routes_version_ != start_routes) routes_version_ = NewRoutesVersion();
      for (const auto& r : txn_requests_) requests_.Remove(r.request_id, r.rowid);
      txn_requests_.clear();
      for (auto& p : batch) p.done(s);
    };
    for (auto& p : batch) {
      if (p.claim) {
        // A claim (or prune) writes: an error of it is the transaction's.
        absl::Status s = p.claim(now_us);
        if (!s.ok()) return fail_all(s);
        CommitResult r;
        r.last_sequence = next_seq_ - 1;
        results.push_back(std::move(r));
        continue;
      }
      bool wrote = false;
      absl::StatusOr<CommitResult> r = Apply(p.m, now_us, events, &wrote);
      if (!r.ok() && wrote) return fail_all(r.status());
      if (r.ok() && r->replayed) r->last_sequence = next_seq_ - 1;
      results.push_back(std::move(r));
    }
    if (!Exec(w_commit_)) return fail_all(SqlError(writer_, "commit"));
    txn_requests_.clear();
    head_.store(next_seq_ - 1, std::memory_order_release);
    transactions_.fetch_add(1, std::memory_order_relaxed);
    mutations_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
    // Hand the callbacks (which finish gRPC calls) to the completion thread,
    // so that the writer starts the next transaction at once.
    Completed c;
    c.listener = listener;
    c.events = std::move(events);
    c.batch = std::move(batch);
    c.results = std::move(results);
    std::lock_guard<std::mutex> lock(done_mu_);
    completed_.push_back(std::move(c));
    done_cv_.notify_one();
  }

  void CompletionLoop() {
    for (;;) {
      std::deque<Completed> work;
      {
        std::unique_lock<std::mutex> lock(done_mu_);
        done_cv_.wait(lock, [&] { return done_stop_ || !completed_.empty(); });
        if (completed_.empty()) return;
        work.swap(completed_);
      }
      for (auto& c : work) {
        if (c.listener && !c.events.empty()) c.listener(std::move(c.events));
        for (size_t i = 0; i < c.batch.size(); ++i) c.batch[i].done(std::move(c.results[i]));
      }
    }
  }

  void FinalizeWriter() {
    for (Stmt* s : {&w_begin_, &w_commit_, &w_rollback_, &w_savepoint_, &w_release_, &w_rollback_to_,
                    &w_get_request_, &w_put_request_, &w_get_resource_, &w_list_resources_, &w_put_resource_,
                    &w_del_resource_, &w_put_event_}) {
      s->Finalize();
    }
    jobs_.Finalize();
    checkpointer_.reset();
    if (writer_ != nullptr) sqlite3_close(writer_);
    writer_ = nullptr;
  }

  // WAL pages after which the checkpoint thread runs (SQLite's automatic
  // checkpoint runs at 1,000); the -wal file starts over at 8 times that
  // (32 MiB of 4 KiB pages).
  static constexpr int kCheckpointPages = 1000;
  SqliteOptions options_;
  sqlite3* writer_ = nullptr;
  std::unique_ptr<WalCheckpointer> checkpointer_;
  Stmt w_begin_, w_commit_, w_rollback_;
  // Around a mutation's job writes when there are several (ApplyJobs).
  Stmt w_savepoint_, w_release_, w_rollback_to_;
  sqlite::JobTable jobs_;
  // Idempotency records: the in-memory index over request_log, and what the
  // open transaction added to it (taken out again if it rolls back).
  struct RequestKey {
    std::string scope, request_id;
    int64_t rowid;
  };
  RequestIndex requests_;
  std::vector<RequestKey> txn_requests_;
  Stmt w_get_request_, w_put_request_, w_get_resource_, w_list_resources_, w_put_resource_, w_del_resource_,
      w_put_event_;
  int64_t next_seq_ = 1;  // writer thread only
  // TxnReader::RoutesVersion (writer thread only): new at every open, and
  // after every changes_routes mutation applied.
  uint64_t routes_version_ = NewRoutesVersion();
  std::atomic<int64_t> head_{0};
  std::atomic<int64_t> transactions_{0};

  std::atomic<int64_t> mutations_{0};

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  CommitListener listener_;
  std::thread writer_thread_;

  // Durable batches whose callbacks are still to run, in commit order.
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<Completed> completed_;
  bool done_stop_ = false;
  std::thread completion_thread_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<ReadConn>> pool_;
  std::vector<ReadConn*> free_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options);
  RETURN_IF_ERROR(store->Init());
  return store;
}

}  // namespace switchboard::core
