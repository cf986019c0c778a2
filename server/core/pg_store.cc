// The PostgreSQL implementation of Store and JobQueue (pg_store.h).
//
// Two writers, each a queue, a thread and a session of its own, group-commit
// what is queued on them, many calls per transaction (pg_batch.h):
//  - the log writer commits mutations (CommitAsync), taking the log
//    counter's lock when its batch needs it;
//  - the job writer commits the JobQueue's own calls (claims, prunes and
//    single job writes), and never takes that lock.
// Reads use a small pool of sessions. Callbacks run on a completion
// thread; a mutation that appended events is answered only once the log
// tailer (pg_tailer.h) has delivered them to the commit listener.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/thread_name.h"
#include "server/core/job_pg.h"
#include "server/core/job_queue.h"
#include "server/core/pg_batch.h"
#include "server/core/pg_conn.h"
#include "server/core/pg_schema.h"
#include "server/core/pg_store.h"
#include "server/core/pg_tailer.h"
#include "server/core/store_rules.h"

namespace switchboard::core {
namespace {

using pg::Conn;
using pg::Params;
using pg::Pending;
using pg::Result;

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
    log_.thread = NamedThread("pg-log-writer", [this] { WriterLoop(log_); });
    jobs_lane_.thread = NamedThread("pg-job-writer", [this] { WriterLoop(jobs_lane_); });
    completion_thread_ = NamedThread("pg-done", [this] { CompletionLoop(); });
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
    return Read<ResourcePage>([&](Conn& c) { return pg::ListResources(c, kind, after_name, limit); });
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
    Stats s;
    s.transactions = transactions_.load(std::memory_order_relaxed);
    s.mutations = mutations_.load(std::memory_order_relaxed);
    s.locked_transactions = locked_transactions_.load(std::memory_order_relaxed);
    s.locked_mutations = locked_mutations_.load(std::memory_order_relaxed);
    s.lock_hold_us = lock_hold_us_.load(std::memory_order_relaxed);
    return s;
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
    const Stats s = stats();
    log::Info("store closed", {{"schema", options_.schema},
                               {"transactions", s.transactions},
                               {"mutations", s.mutations},
                               {"locked_transactions", s.locked_transactions},
                               {"locked_mutations", s.locked_mutations},
                               {"lock_hold_us", s.lock_hold_us},
                               {"lock_hold_max_us", lock_hold_max_us_.load(std::memory_order_relaxed)}});
  }

  // JobQueue.

  void Claim(std::string kind, std::string owner, int n, absl::Duration lease, ClaimDone done) override {
    if (absl::Status s = CheckClaim(kind, owner, n, lease); !s.ok()) return done(s);
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

  absl::StatusOr<Counts> CountByState(const std::string& kind, bool prefix) override {
    return Read<Counts>([&](Conn& c) { return pg::CountJobsByState(c, kind, prefix); });
  }

  absl::StatusOr<std::optional<Job>> FindUnfinished(const std::string& kind, const std::string& key) override {
    RETURN_IF_ERROR(CheckFind(kind, key));
    return Read<std::optional<Job>>([&](Conn& c) { return pg::FindUnfinishedJob(c, kind, key); });
  }

  void ReleaseOwnedBy(std::string owner_prefix, PruneDone done) override {
    if (absl::Status s = CheckReleasePrefix(owner_prefix); !s.ok()) return done(s);
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
    if (absl::Status s = CheckPrune(n); !s.ok()) return done(s);
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
      RunBatch(lane, batch);
      batch.clear();
    }
  }

  void RunBatch(Lane& lane, std::vector<Pending>& batch) {
    // Once the counter's lock is held, what queued up while another
    // replica held it joins the batch: more mutations per hold.
    pg::BatchOutcome out = pg::CommitBatch(*lane.conn, channel_, batch, [this, &lane](std::vector<Pending>& b) {
      std::lock_guard<std::mutex> lock(queue_mu_);
      while (!lane.queue.empty() && static_cast<int>(b.size()) < options_.max_batch) {
        b.push_back(std::move(lane.queue.front()));
        lane.queue.pop_front();
      }
    }, options_.keep_done_jobs);
    if (out.lock_held > absl::ZeroDuration()) {
      const int64_t us = absl::ToInt64Microseconds(out.lock_held);
      locked_transactions_.fetch_add(1, std::memory_order_relaxed);
      locked_mutations_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
      lock_hold_us_.fetch_add(us, std::memory_order_relaxed);
      int64_t max = lock_hold_max_us_.load(std::memory_order_relaxed);
      while (us > max && !lock_hold_max_us_.compare_exchange_weak(max, us, std::memory_order_relaxed)) {
      }
    }
    if (!out.failed.ok()) {
      for (Pending& p : batch) Post([done = std::move(p.done), failed = out.failed] { done(failed); });
      return;
    }
    transactions_.fetch_add(1, std::memory_order_relaxed);
    mutations_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
    bool any_events = false;
    for (size_t i = 0; i < batch.size(); ++i) {
      const int64_t last = out.results[i].ok() ? out.results[i]->last_sequence : 0;
      auto answer = [this, done = std::move(batch[i].done), r = std::move(out.results[i])]() mutable {
        Post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
      };
      if (out.appended[i]) {
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
  // The log counter's lock (Stats); the longest hold goes to the log at Close.
  std::atomic<int64_t> locked_transactions_{0};
  std::atomic<int64_t> locked_mutations_{0};
  std::atomic<int64_t> lock_hold_us_{0};
  std::atomic<int64_t> lock_hold_max_us_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPgStore(const PgOptions& options) {
  auto store = std::make_unique<PgStore>(options);
  RETURN_IF_ERROR(store->Init());
  return store;
}

}  // namespace switchboard::core
