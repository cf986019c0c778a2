// The PostgreSQL implementation of Store and JobQueue (pg_store.h).
//
// Two writers, each a queue, a thread and a session of its own, group-commit
// what is queued on them, many calls per transaction:
//  - the log writer commits mutations (CommitAsync). A batch that appends
//    events, records a request_id, writes resources or reads (`prepare`)
//    first locks the one-row log counter (SELECT ... FOR UPDATE): the lock
//    serializes those batches across replicas, so that sequence order is
//    commit order, idempotency checks see every earlier record, and a
//    prepare's read-modify-write is as safe as on SQLite's single writer.
//    A batch of job writes alone does not take it.
//  - the job writer commits the JobQueue's own calls (claims, prunes and
//    single job writes), and never takes the counter lock.
// A batch's statements that need no answer (resource writes, the event and
// request inserts, the counter update, NOTIFY, COMMIT) go in one pipeline.
//
// Callbacks run on a completion thread; a mutation that appended events is
// answered only once the log tailer (pg_tailer.h) has delivered them to the
// commit listener.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "server/core/job_pg.h"
#include "server/core/job_queue.h"
#include "server/core/pg_conn.h"
#include "server/core/pg_schema.h"
#include "server/core/pg_store.h"
#include "server/core/pg_tailer.h"
#include "server/core/store_rules.h"

namespace switchboard::core {
namespace {

using pg::Conn;
using pg::Params;
using pg::Query;
using pg::Result;

// Microseconds since the epoch on the database's clock: one clock for every
// replica's leases and event times.
constexpr const char* kNowUs = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

// Most rows in one multi-row INSERT (PostgreSQL takes at most 65,535
// parameters in a statement).
constexpr size_t kRowsPerInsert = 1000;

// Tries of a batch that hit a deadlock or a serialization failure.
constexpr int kTries = 3;

struct Pending {
  Mutation m;
  Store::CommitCallback done;
  // A claim or a prune instead of a mutation (`m` is empty): runs in the
  // writer's transaction at the batch's time, again if the batch is tried
  // again; `done` gets an empty CommitResult.
  std::function<absl::Status(Conn&, int64_t now_us)> op;
};

bool NeedsLock(const Pending& p) {
  const Mutation& m = p.m;
  return !p.op && (!m.request_id.empty() || m.prepare || !m.writes.empty() || !m.events.empty());
}

struct StoredRequest {
  std::string scope, fingerprint, response;
};

// One try of one batch: what it appended and recorded so far.
struct Txn {
  bool locked = false;
  bool begun = false;  // BEGIN went through
  int64_t head = 0;  // the last sequence given, this batch's included
  int64_t now_us = 0;
  int64_t create_us = 0;
  // Resource writes not sent yet (sent before the next read, or with the
  // commit).
  std::vector<Query> unsent;
  // The events appended: sequence, draft, final bytes.
  struct Event {
    int64_t seq;
    const EventDraft* draft;
    std::string data;
  };
  std::vector<Event> events;
  // Idempotency records: the committed ones of this batch's request_ids,
  // and those this batch adds (also in `added`, in order).
  absl::flat_hash_map<std::string, StoredRequest> requests;
  std::vector<std::pair<std::string, StoredRequest>> added;
  // The NOTIFY's payload: the new head.
  std::string notify_payload;
  // A statement failed: the transaction is lost, and so is the batch.
  absl::Status lost;
};

class PgStore final : public Store, public JobQueue {
 public:
  explicit PgStore(PgOptions options) : options_(std::move(options)) {
    spec_.url = options_.url;
    spec_.schema = options_.schema;
    spec_.lock_timeout = options_.lock_timeout;
    spec_.idle_in_transaction_timeout = options_.idle_in_transaction_timeout;
    spec_.keepalive_idle = options_.keepalive_idle;
    spec_.keepalive_interval = options_.keepalive_interval;
    spec_.keepalive_count = options_.keepalive_count;
    spec_.connect_timeout = options_.connect_timeout;
  }

  ~PgStore() override { Close(); }

  absl::Status Init() {
    if (options_.url.empty()) {
      return absl::InvalidArgumentError("the PostgreSQL URL is empty; check --store (postgresql://host/db)");
    }
    if (options_.schema.empty()) return absl::InvalidArgumentError("the PostgreSQL schema is empty; name one");
    if (options_.max_batch < 1) return absl::InvalidArgumentError("max_batch must be 1 or more");
    pg::ConnectSpec spec = spec_;
    spec.role = "log writer";
    ASSIGN_OR_RETURN(log_.conn, Conn::Open(spec));
    RETURN_IF_ERROR(pg::EnsureSchema(*log_.conn, options_.schema));
    spec.role = "job writer";
    ASSIGN_OR_RETURN(jobs_lane_.conn, Conn::Open(spec));
    spec.role = "reader";
    for (int i = 0; i < std::max(1, options_.read_connections); ++i) {
      ASSIGN_OR_RETURN(std::unique_ptr<Conn> c, Conn::Open(spec));
      free_.push_back(c.get());
      pool_.push_back(std::move(c));
    }
    ASSIGN_OR_RETURN(Result head, log_.conn->Exec("read log head", "SELECT head FROM log_counter WHERE id=1"));
    if (head.rows() != 1) return absl::DataLossError("store: log_counter has no row; the schema was changed by hand");
    pg::Tailer::Options topts;
    topts.spec = spec_;
    topts.channel = pg::LogChannel(options_.schema);
    topts.poll_interval = options_.poll_interval;
    topts.listen = options_.listen;
    ASSIGN_OR_RETURN(tailer_, pg::Tailer::Start(topts, head.Int(0, 0)));
    log_.thread = std::thread([this] { WriterLoop(log_); });
    jobs_lane_.thread = std::thread([this] { WriterLoop(jobs_lane_); });
    completion_thread_ = std::thread([this] { CompletionLoop(); });
    return absl::OkStatus();
  }

  // Store.

  void CommitAsync(Mutation m, CommitCallback done) override {
    Submit(log_, Pending{std::move(m), std::move(done), nullptr});
  }

  absl::StatusOr<std::optional<std::string>> GetResource(absl::string_view kind, absl::string_view name) override {
    return Read<std::optional<std::string>>([&](Conn& c) -> absl::StatusOr<std::optional<std::string>> {
      Params p;
      p.Bytes(kind).Bytes(name);
      ASSIGN_OR_RETURN(Result r, c.Exec("get resource", "SELECT value FROM resources WHERE kind=$1 AND name=$2", p));
      if (r.rows() == 0) return std::optional<std::string>();
      return std::optional<std::string>(r.Bytes(0, 0));
    });
  }

  absl::StatusOr<ResourcePage> ListResources(absl::string_view kind, absl::string_view after_name,
                                             int limit) override {
    return Read<ResourcePage>([&](Conn& c) { return List(c, kind, after_name, limit); });
  }

  absl::StatusOr<ResourcePage> List(Conn& c, absl::string_view kind, absl::string_view after_name, int limit) {
    Params p;
    p.Bytes(kind).Bytes(after_name).Int(limit + 1);
    ASSIGN_OR_RETURN(Result r, c.Exec("list resources",
                                       "SELECT name, value FROM resources WHERE kind=$1 AND name>$2 "
                                       "ORDER BY name LIMIT $3",
                                       p));
    ResourcePage page;
    for (int i = 0; i < r.rows(); ++i) page.items.emplace_back(r.Bytes(i, 0), r.Bytes(i, 1));
    if (static_cast<int>(page.items.size()) > limit) {
      page.items.pop_back();
      page.next_after = page.items.back().first;
    }
    return page;
  }

  absl::StatusOr<EventBatch> ReadEvents(int64_t after, int limit, absl::string_view service) override {
    return Read<EventBatch>([&](Conn& c) { return ReadEventsOn(c, after, limit, service); });
  }

  absl::StatusOr<EventBatch> ReadEventsOn(Conn& c, int64_t after, int limit, absl::string_view service) {
    Params p;
    p.Int(after).Int(limit);
    if (!service.empty()) p.Bytes(service);
    // One statement, one snapshot: the head read with the rows matches
    // them. The counter's row comes back even when no event does.
    std::string sql = absl::StrCat(
        "SELECT c.head, e.seq, e.create_us, e.service, e.kind, e.resource, e.related, e.data FROM log_counter c "
        "LEFT JOIN LATERAL (SELECT * FROM events WHERE seq>$1",
        service.empty() ? "" : " AND service=$3", " ORDER BY seq LIMIT $2) e ON true WHERE c.id=1 ORDER BY e.seq");
    ASSIGN_OR_RETURN(Result r, c.Exec("read events", sql, p));
    EventBatch batch;
    int64_t head = after;
    for (int i = 0; i < r.rows(); ++i) {
      head = r.Int(i, 0);
      if (r.IsNull(i, 1)) continue;
      EventRecord e;
      e.sequence = r.Int(i, 1);
      e.create_time_us = r.Int(i, 2);
      e.service = r.Bytes(i, 3);
      e.kind = r.Bytes(i, 4);
      e.resource = r.Bytes(i, 5);
      e.related = r.Bytes(i, 6);
      e.data = r.Bytes(i, 7);
      batch.events.push_back(std::move(e));
    }
    if (limit <= 0) {
      batch.scanned_through = after;  // nothing was looked at
    } else {
      batch.scanned_through = static_cast<int>(batch.events.size()) == limit ? batch.events.back().sequence : head;
    }
    if (batch.scanned_through < after) batch.scanned_through = after;
    return batch;
  }

  int64_t HeadSequence() const override { return tailer_ ? tailer_->delivered() : 0; }

  Stats stats() const override {
    return Stats{transactions_.load(std::memory_order_relaxed), mutations_.load(std::memory_order_relaxed)};
  }

  JobQueue& jobs() override { return *this; }

  void SetCommitListener(CommitListener listener) override { tailer_->SetListener(std::move(listener)); }

  void Close() override {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      if (closing_) return;
      closing_ = true;
      log_.cv.notify_all();
      jobs_lane_.cv.notify_all();
    }
    if (log_.thread.joinable()) log_.thread.join();
    if (jobs_lane_.thread.joinable()) jobs_lane_.thread.join();
    if (tailer_) tailer_->Stop(options_.close_drain);
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_stop_ = true;
      done_cv_.notify_all();
    }
    if (completion_thread_.joinable()) completion_thread_.join();
  }

  // JobQueue.

  void Claim(std::string kind, std::string owner, int n, absl::Duration lease, ClaimDone done) override {
    if (kind.empty()) return done(absl::InvalidArgumentError("claim kind is required, e.g. media.operation"));
    if (owner.empty()) {
      return done(absl::InvalidArgumentError("claim owner is required: this replica's id (core::NewReplicaId)"));
    }
    if (n < 1) return done(absl::InvalidArgumentError(absl::StrCat("claim n is ", n, "; ask for 1 job or more")));
    if (lease <= absl::ZeroDuration()) {
      return done(absl::InvalidArgumentError("claim lease must be positive, e.g. 60 seconds"));
    }
    auto out = std::make_shared<std::vector<Job>>();
    Pending p;
    p.op = [kind = std::move(kind), owner = std::move(owner), n, lease_us = absl::ToInt64Microseconds(lease),
            out](Conn& c, int64_t now_us) {
      out->clear();  // a batch tried again claims again
      return pg::ClaimJobs(c, kind, owner, n, now_us, lease_us, out.get());
    };
    p.done = [out, done = std::move(done)](absl::StatusOr<CommitResult> r) {
      if (!r.ok()) return done(r.status());
      done(std::move(*out));
    };
    Submit(jobs_lane_, std::move(p));
  }

  void Write(JobWrite write, WriteDone done) override {
    Pending p;
    p.m.jobs.push_back(std::move(write));
    p.done = [done = std::move(done)](absl::StatusOr<CommitResult> r) {
      if (!r.ok()) return done(r.status());
      done(r->jobs.empty() ? JobLease{} : r->jobs.front());
    };
    Submit(jobs_lane_, std::move(p));
  }

  absl::StatusOr<std::optional<Job>> GetJob(int64_t id) override {
    return Read<std::optional<Job>>([&](Conn& c) { return pg::GetJob(c, id); });
  }

  absl::StatusOr<int64_t> CountUnfinished(const std::string& kind) override {
    return Read<int64_t>([&](Conn& c) { return pg::CountUnfinishedJobs(c, kind); });
  }

  void ReleaseOwnedBy(std::string owner_prefix, PruneDone done) override {
    if (owner_prefix.empty()) return done(absl::InvalidArgumentError("owner_prefix must not be empty"));
    auto released = std::make_shared<int>(0);
    Pending p;
    p.op = [owner_prefix = std::move(owner_prefix), released](Conn& c, int64_t) -> absl::Status {
      ASSIGN_OR_RETURN(*released, pg::ReleaseJobsOwnedBy(c, owner_prefix));
      return absl::OkStatus();
    };
    p.done = [released, done = std::move(done)](absl::StatusOr<CommitResult> r) {
      if (!r.ok()) return done(r.status());
      done(*released);
    };
    Submit(jobs_lane_, std::move(p));
  }

  void Prune(absl::Time finished_before, int n, PruneDone done) override {
    if (n < 1) return done(absl::InvalidArgumentError(absl::StrCat("prune n is ", n, "; delete 1 job or more")));
    auto deleted = std::make_shared<int>(0);
    Pending p;
    p.op = [before_us = absl::ToUnixMicros(finished_before), n, deleted](Conn& c, int64_t) -> absl::Status {
      ASSIGN_OR_RETURN(*deleted, pg::PruneJobs(c, before_us, n));
      return absl::OkStatus();
    };
    p.done = [deleted, done = std::move(done)](absl::StatusOr<CommitResult> r) {
      if (!r.ok()) return done(r.status());
      done(*deleted);
    };
    Submit(jobs_lane_, std::move(p));
  }

 private:
  // A writer: its queue, thread and session.
  struct Lane {
    std::unique_ptr<Conn> conn;
    std::condition_variable cv;
    std::deque<Pending> queue;
    std::thread thread;
  };

  // A read session from the pool, reconnected if it was lost.
  class Lease {
   public:
    explicit Lease(PgStore* s) : s_(s) {
      std::unique_lock<std::mutex> lock(s_->pool_mu_);
      s_->pool_cv_.wait(lock, [&] { return !s_->free_.empty(); });
      c_ = s_->free_.back();
      s_->free_.pop_back();
      lock.unlock();
      if (!c_->ok()) (void)c_->Reconnect();  // a failure shows in the read's error
    }
    ~Lease() {
      std::lock_guard<std::mutex> lock(s_->pool_mu_);
      s_->free_.push_back(c_);
      s_->pool_cv_.notify_one();
    }
    Conn* operator->() { return c_; }
    Conn& operator*() { return *c_; }

   private:
    PgStore* s_;
    Conn* c_;
  };

  // A read on a pooled session; once more on a new session when the first
  // was lost (the server restarted, or ended it): a read is safe to repeat.
  template <typename T>
  absl::StatusOr<T> Read(const std::function<absl::StatusOr<T>(Conn&)>& fn) {
    Lease c(this);
    absl::StatusOr<T> r = fn(*c);
    if (!r.ok() && !c->ok() && c->Reconnect().ok()) r = fn(*c);
    return r;
  }

  // Reads inside the batch's transaction, after its earlier writes.
  class TxnRead final : public TxnReader {
   public:
    TxnRead(PgStore* s, Conn& c, Txn& t) : s_(s), c_(c), t_(t) {}
    absl::StatusOr<std::optional<std::string>> Get(absl::string_view kind, absl::string_view name) override {
      RETURN_IF_ERROR(s_->SendUnsent(c_, t_));
      Params p;
      p.Bytes(kind).Bytes(name);
      absl::StatusOr<Result> r = c_.Exec("get resource", "SELECT value FROM resources WHERE kind=$1 AND name=$2", p);
      if (!r.ok()) {
        t_.lost = r.status();
        return r.status();
      }
      if (r->rows() == 0) return std::optional<std::string>();
      return std::optional<std::string>(r->Bytes(0, 0));
    }
    int64_t NextSequence() const override { return t_.head + 1; }

   private:
    PgStore* s_;
    Conn& c_;
    Txn& t_;
  };

  void Submit(Lane& lane, Pending p) {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      if (!closing_) {
        lane.queue.push_back(std::move(p));
        lane.cv.notify_one();
        return;
      }
    }
    p.done(absl::UnavailableError("store is shutting down; retry against a running server"));
  }

  void Post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(done_mu_);
    completions_.push_back(std::move(fn));
    done_cv_.notify_one();
  }

  void CompletionLoop() {
    for (;;) {
      std::deque<std::function<void()>> work;
      {
        std::unique_lock<std::mutex> lock(done_mu_);
        done_cv_.wait(lock, [&] { return done_stop_ || !completions_.empty(); });
        if (completions_.empty()) return;
        work.swap(completions_);
      }
      for (auto& fn : work) fn();
    }
  }

  void WriterLoop(Lane& lane) {
    std::vector<Pending> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(queue_mu_);
        lane.cv.wait(lock, [&] { return closing_ || !lane.queue.empty(); });
        if (lane.queue.empty()) return;  // closing and drained
        while (!lane.queue.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
          batch.push_back(std::move(lane.queue.front()));
          lane.queue.pop_front();
        }
      }
      RunBatch(*lane.conn, batch);
      batch.clear();
    }
  }

  absl::Status SendUnsent(Conn& c, Txn& t) {
    if (t.unsent.empty()) return absl::OkStatus();
    absl::Status s = c.Pipeline("write resources", t.unsent);
    t.unsent.clear();
    if (!s.ok()) t.lost = s;
    return s;
  }

  // Opens the transaction; with `lock`, takes the log counter's lock.
  absl::Status Begin(Conn& c, bool lock, Txn& t) {
    if (!c.ok()) RETURN_IF_ERROR(c.Reconnect());
    absl::StatusOr<Result> r = c.ExecScript(
        lock ? "lock the log counter (another replica may hold it: see lock_timeout)" : "begin",
        absl::StrCat("BEGIN; SELECT head, create_us, ", kNowUs, " FROM log_counter WHERE id=1",
                     lock ? " FOR UPDATE" : ""));
    if (!r.ok()) return r.status();
    if (r->rows() != 1) return absl::DataLossError("store: log_counter has no row; the schema was changed by hand");
    t.locked = lock;
    t.begun = true;
    t.head = r->Int(0, 0);
    t.now_us = r->Int(0, 2);
    // Event times never go back along the log, whatever the clocks did.
    t.create_us = std::max(t.now_us, r->Int(0, 1));
    return absl::OkStatus();
  }

  // The committed idempotency records of the batch's request_ids, read once
  // under the counter's lock.
  absl::Status LoadRequests(Conn& c, const std::vector<Pending>& batch, Txn& t) {
    std::vector<absl::string_view> ids;
    for (const Pending& p : batch) {
      if (!p.op && !p.m.request_id.empty()) ids.push_back(p.m.request_id);
    }
    if (ids.empty()) return absl::OkStatus();
    Params p;
    p.ByteaArray(ids);
    ASSIGN_OR_RETURN(Result r, c.Exec("idempotency lookup",
                                      "SELECT request_id, scope, fingerprint, response FROM requests "
                                      "WHERE request_id = ANY($1)",
                                      p));
    for (int i = 0; i < r.rows(); ++i) {
      t.requests[r.Bytes(i, 0)] = StoredRequest{r.Bytes(i, 1), r.Bytes(i, 2), r.Bytes(i, 3)};
    }
    return absl::OkStatus();
  }

  // The job writes of one mutation, in order, before its other writes. A
  // refused one undoes those before it (a savepoint, when there are
  // several) and refuses the mutation; a failed statement loses the batch.
  absl::StatusOr<std::vector<JobLease>> ApplyJobs(Conn& c, const std::vector<JobWrite>& writes, Txn& t) {
    RETURN_IF_ERROR(SendUnsent(c, t));
    const bool savepoint = writes.size() > 1;
    auto lost = [&](absl::Status s) {
      t.lost = s;
      return s;
    };
    if (savepoint) {
      if (auto s = c.ExecScript("savepoint", "SAVEPOINT jobs"); !s.ok()) return lost(s.status());
    }
    std::vector<JobLease> leases;
    leases.reserve(writes.size());
    for (const JobWrite& w : writes) {
      absl::StatusOr<JobLease> l = pg::ApplyJobWrite(c, w, t.now_us);
      if (l.ok()) {
        leases.push_back(std::move(*l));
        continue;
      }
      if (absl::IsUnavailable(l.status())) return lost(l.status());  // a failed statement
      if (savepoint) {
        if (auto s = c.ExecScript("rollback to savepoint", "ROLLBACK TO SAVEPOINT jobs; RELEASE SAVEPOINT jobs");
            !s.ok()) {
          return lost(s.status());
        }
      }
      return l.status();
    }
    if (savepoint) {
      if (auto s = c.ExecScript("release savepoint", "RELEASE SAVEPOINT jobs"); !s.ok()) return lost(s.status());
    }
    return leases;
  }

  // Applies one mutation inside the open transaction. Every check that
  // refuses a mutation (idempotency, `prepare`, a job write) runs before its
  // other writes, so a refused mutation leaves nothing behind; a failed
  // statement sets t.lost, and the batch is rolled back.
  absl::StatusOr<CommitResult> Apply(Conn& c, Mutation& m, Txn& t) {
    if (!m.request_id.empty()) {
      auto it = t.requests.find(m.request_id);
      if (it != t.requests.end()) {
        if (it->second.scope != m.scope) return RequestIdUsedElsewhere(m.request_id, it->second.scope, m.scope);
        if (it->second.fingerprint != m.fingerprint) return RequestIdConflict(m.scope, m.request_id);
        CommitResult repeat;
        repeat.response = it->second.response;
        repeat.replayed = true;
        repeat.last_sequence = t.head;
        return repeat;
      }
    }
    if (m.prepare) {
      TxnRead reader(this, c, t);
      absl::Status s = m.prepare(reader, m);
      if (!t.lost.ok()) return t.lost;
      RETURN_IF_ERROR(s);
    }
    std::vector<JobLease> leases;
    if (!m.jobs.empty()) {
      ASSIGN_OR_RETURN(leases, ApplyJobs(c, m.jobs, t));
    }
    for (const ResourceWrite& w : m.writes) {
      Query q;
      q.params.Bytes(w.kind).Bytes(w.name);
      if (w.erase) {
        q.sql = "DELETE FROM resources WHERE kind=$1 AND name=$2";
      } else {
        q.params.Bytes(w.value);
        q.sql = "INSERT INTO resources(kind, name, value) VALUES($1,$2,$3) "
                "ON CONFLICT(kind, name) DO UPDATE SET value=excluded.value";
      }
      t.unsent.push_back(std::move(q));
    }
    for (const EventDraft& e : m.events) {
      ++t.head;
      t.events.push_back(Txn::Event{t.head, &e, FinalizeEvent(e.payload, t.head, t.create_us)});
    }
    CommitResult result;
    result.last_sequence = t.head;
    if (m.make_response) result.response = m.make_response(t.head);
    result.jobs = std::move(leases);
    if (!m.request_id.empty()) {
      StoredRequest rec{m.scope, m.fingerprint, result.response};
      t.requests[m.request_id] = rec;
      t.added.emplace_back(m.request_id, std::move(rec));
    }
    return result;
  }

  // The statements that end a batch, sent with COMMIT in one pipeline.
  void Finish(Txn& t, std::vector<Query>& out) {
    out = std::move(t.unsent);
    for (size_t i = 0; i < t.events.size(); i += kRowsPerInsert) {
      Query q;
      q.sql = "INSERT INTO events(seq, create_us, service, kind, resource, related, data) VALUES";
      for (size_t j = i; j < std::min(t.events.size(), i + kRowsPerInsert); ++j) {
        const Txn::Event& e = t.events[j];
        const int b = q.params.size();
        absl::StrAppend(&q.sql, j > i ? "," : "", "($", b + 1, ",$", b + 2, ",$", b + 3, ",$", b + 4, ",$", b + 5,
                        ",$", b + 6, ",$", b + 7, ")");
        q.params.Int(e.seq).Int(t.create_us).Bytes(e.draft->service).Bytes(e.draft->kind);
        q.params.Bytes(e.draft->resource).Bytes(e.draft->related).Bytes(e.data);
      }
      out.push_back(std::move(q));
    }
    for (size_t i = 0; i < t.added.size(); i += kRowsPerInsert) {
      Query q;
      q.sql = "INSERT INTO requests(request_id, scope, fingerprint, response, create_us) VALUES";
      for (size_t j = i; j < std::min(t.added.size(), i + kRowsPerInsert); ++j) {
        const auto& [id, rec] = t.added[j];
        const int b = q.params.size();
        absl::StrAppend(&q.sql, j > i ? "," : "", "($", b + 1, ",$", b + 2, ",$", b + 3, ",$", b + 4, ",$", b + 5,
                        ")");
        q.params.Bytes(id).Bytes(rec.scope).Bytes(rec.fingerprint).Bytes(rec.response).Int(t.now_us);
      }
      out.push_back(std::move(q));
    }
    if (!t.events.empty()) {
      Query bump;
      bump.sql = "UPDATE log_counter SET head=$1, create_us=$2 WHERE id=1";
      bump.params.Int(t.head).Int(t.create_us);
      out.push_back(std::move(bump));
      // Delivered with the commit, to every replica's tailer.
      Query notify;
      notify.sql = "SELECT pg_notify($1, $2)";
      t.notify_payload = absl::StrCat(t.head);
      notify.params.Text(channel_).Text(t.notify_payload);
      out.push_back(std::move(notify));
    }
    out.push_back(Query{"COMMIT", Params()});
  }

  void RunBatch(Conn& c, std::vector<Pending>& batch) {
    bool lock = false;
    for (const Pending& p : batch) lock = lock || NeedsLock(p);
    // What `prepare` adds is taken off again before another try.
    struct Sizes {
      size_t writes, events, jobs;
    };
    std::vector<Sizes> sizes;
    sizes.reserve(batch.size());
    for (const Pending& p : batch) sizes.push_back({p.m.writes.size(), p.m.events.size(), p.m.jobs.size()});

    std::vector<absl::StatusOr<CommitResult>> results;
    std::vector<bool> appended;
    absl::Status failed;
    bool committed = false;
    for (int attempt = 1; attempt <= kTries && !committed; ++attempt) {
      if (attempt > 1) {
        for (size_t i = 0; i < batch.size(); ++i) {
          batch[i].m.writes.resize(sizes[i].writes);
          batch[i].m.events.resize(sizes[i].events);
          batch[i].m.jobs.resize(sizes[i].jobs);
        }
      }
      results.clear();
      appended.clear();
      Txn t;
      failed = RunOnce(c, batch, lock, t, results, appended);
      committed = failed.ok();
      if (!committed) {
        // A deadlock or serialization failure rolled the transaction back;
        // a session lost before BEGIN went through wrote nothing: both are
        // safe to try again. A session lost later may have committed.
        const bool retry = (c.Retryable() || (!t.begun && !c.ok())) && attempt < kTries;
        if (c.ok()) (void)c.ExecScript("rollback", "ROLLBACK");
        if (!retry) break;
        log::Info("store: transaction rolled back before it could commit; trying again",
                  {{"attempt", attempt}, {"error", std::string(failed.message())}});
      }
    }
    if (!committed) {
      log::Error("store transaction failed", {{"error", std::string(failed.message())}});
      for (Pending& p : batch) Post([done = std::move(p.done), failed] { done(failed); });
      return;
    }
    transactions_.fetch_add(1, std::memory_order_relaxed);
    mutations_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
    bool any_events = false;
    for (size_t i = 0; i < batch.size(); ++i) {
      const int64_t last = results[i].ok() ? results[i]->last_sequence : 0;
      auto answer = [this, done = std::move(batch[i].done), r = std::move(results[i])]() mutable {
        Post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
      };
      if (appended[i]) {
        any_events = true;
        // Answered once this replica's listener has the events: a watch
        // started after the answer sees them.
        tailer_->AfterDelivered(last, std::move(answer));
      } else {
        answer();
      }
    }
    if (any_events) tailer_->Wake();
  }

  absl::Status RunOnce(Conn& c, std::vector<Pending>& batch, bool lock, Txn& t,
                       std::vector<absl::StatusOr<CommitResult>>& results, std::vector<bool>& appended) {
    RETURN_IF_ERROR(Begin(c, lock, t));
    if (lock) RETURN_IF_ERROR(LoadRequests(c, batch, t));
    for (Pending& p : batch) {
      if (p.op) {
        // A claim (or prune) writes: an error of it is the transaction's.
        RETURN_IF_ERROR(p.op(c, t.now_us));
        CommitResult r;
        r.last_sequence = t.head;
        results.push_back(std::move(r));
        appended.push_back(false);
        continue;
      }
      const int64_t before = t.head;
      absl::StatusOr<CommitResult> r = Apply(c, p.m, t);
      if (!t.lost.ok()) return t.lost;
      appended.push_back(r.ok() && t.head > before);
      results.push_back(std::move(r));
    }
    std::vector<Query> tail;
    Finish(t, tail);
    return c.Pipeline("commit", tail);
  }

  PgOptions options_;
  pg::ConnectSpec spec_;
  std::string channel_ = pg::LogChannel(options_.schema);
  std::unique_ptr<pg::Tailer> tailer_;

  std::mutex queue_mu_;
  bool closing_ = false;
  Lane log_, jobs_lane_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<std::function<void()>> completions_;
  bool done_stop_ = false;
  std::thread completion_thread_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Conn>> pool_;
  std::vector<Conn*> free_;

  std::atomic<int64_t> transactions_{0};
  std::atomic<int64_t> mutations_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPgStore(const PgOptions& options) {
  auto store = std::make_unique<PgStore>(options);
  RETURN_IF_ERROR(store->Init());
  return store;
}

}  // namespace switchboard::core
