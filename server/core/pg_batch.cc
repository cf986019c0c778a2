#include "server/core/pg_batch.h"

#include <algorithm>
#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "server/core/job_pg.h"
#include "server/core/store_rules.h"

namespace switchboard::core::pg {
namespace {

// Microseconds since the epoch on the database's clock: one clock for every
// replica's leases and event times.
constexpr const char* kNowUs = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

// Most rows in one multi-row INSERT (PostgreSQL takes at most 65,535
// parameters in a statement).
constexpr size_t kRowsPerInsert = 1000;

// Tries of a batch that was rolled back before it could commit.
constexpr int kTries = 3;

// A mutation that changes the routes writes their new version to the
// counter's row: it takes the lock even without a write of its own
// (store.h, TxnReader::RoutesVersion).
bool NeedsLock(const Pending& p) {
  const Mutation& m = p.m;
  return !p.op && (!m.request_id.empty() || m.prepare || !m.writes.empty() || !m.events.empty() ||
                   m.changes_routes);
}

struct StoredRequest {
  std::string scope, fingerprint, response;
};

// One try of one batch: what it appended and recorded so far.
struct Txn {
  bool locked = false;
  bool begun = false;  // BEGIN went through
  int64_t head = 0;    // the last sequence given, this batch's included
  int64_t now_us = 0;
  int64_t create_us = 0;
  bool keep_done_jobs = true;
  // TxnReader::RoutesVersion: read with the head, and new once a mutation
  // that changes the routes is applied (then written with the commit).
  uint64_t routes_version = 0;
  bool routes_changed = false;
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

absl::Status SendUnsent(Conn& c, Txn& t) {
  if (t.unsent.empty()) return absl::OkStatus();
  absl::Status s = c.Pipeline("write resources", t.unsent);
  t.unsent.clear();
  if (!s.ok()) t.lost = s;
  return s;
}

// Reads inside the batch's transaction, after its earlier writes.
class TxnRead final : public TxnReader {
 public:
  TxnRead(Conn& c, Txn& t) : c_(c), t_(t) {}
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view kind, absl::string_view name) override {
    RETURN_IF_ERROR(SendUnsent(c_, t_));
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
  absl::StatusOr<ResourcePage> List(absl::string_view kind, absl::string_view after_name, int limit) override {
    RETURN_IF_ERROR(SendUnsent(c_, t_));
    absl::StatusOr<ResourcePage> page = ListResources(c_, kind, after_name, limit);
    if (!page.ok()) t_.lost = page.status();
    return page;
  }
  int64_t NextSequence() const override { return t_.head + 1; }
  // Read under the counter's lock: a prepare makes its batch take it.
  uint64_t RoutesVersion() const override { return t_.routes_version; }

 private:
  Conn& c_;
  Txn& t_;
};

// Opens the transaction; with `lock`, takes the log counter's lock.
absl::Status Begin(Conn& c, bool lock, Txn& t) {
  if (!c.ok()) RETURN_IF_ERROR(c.Reconnect());
  absl::StatusOr<Result> r = c.ExecScript(
      lock ? "lock the log counter (another replica may hold it: see lock_timeout)" : "begin",
      absl::StrCat("BEGIN; SELECT head, create_us, ", kNowUs, ", routes_version FROM log_counter WHERE id=1",
                   lock ? " FOR UPDATE" : ""));
  if (!r.ok()) return r.status();
  if (r->rows() != 1) return absl::DataLossError("store: log_counter has no row; the schema was changed by hand");
  t.locked = lock;
  t.begun = true;
  t.head = r->Int(0, 0);
  t.now_us = r->Int(0, 2);
  // Event times never go back along the log, whatever the clocks did.
  t.create_us = std::max(t.now_us, r->Int(0, 1));
  t.routes_version = static_cast<uint64_t>(r->Int(0, 3));
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
    absl::StatusOr<JobLease> l = pg::ApplyJobWrite(c, w, t.now_us, t.keep_done_jobs);
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
    TxnRead reader(c, t);
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
  // Applied (its writes go with the commit, or the batch is lost): later
  // prepares of this batch see a new version, and so does every replica
  // once it commits. A batch tried again reads the committed one again.
  if (m.changes_routes) {
    t.routes_version = NewRoutesVersion();
    t.routes_changed = true;
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
void Finish(Txn& t, const std::string& channel, std::vector<Query>& out) {
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
  if (!t.events.empty() || t.routes_changed) {
    Query bump;
    if (!t.events.empty()) {
      bump.sql = "UPDATE log_counter SET head=$1, create_us=$2";
      bump.params.Int(t.head).Int(t.create_us);
    }
    if (t.routes_changed) {
      absl::StrAppend(&bump.sql, bump.sql.empty() ? "UPDATE log_counter SET " : ", ", "routes_version=$",
                      bump.params.size() + 1);
      bump.params.Int(static_cast<int64_t>(t.routes_version));
    }
    bump.sql += " WHERE id=1";
    out.push_back(std::move(bump));
  }
  if (!t.events.empty()) {
    // Delivered with the commit, to every replica's tailer.
    Query notify;
    notify.sql = "SELECT pg_notify($1, $2)";
    t.notify_payload = absl::StrCat(t.head);
    notify.params.Text(channel).Text(t.notify_payload);
    out.push_back(std::move(notify));
  }
  out.push_back(Query{"COMMIT", Params()});
}

absl::Status RunOnce(Conn& c, const std::string& channel, std::vector<Pending>& batch, bool lock, Txn& t,
                     std::vector<absl::StatusOr<CommitResult>>& results, std::vector<bool>& appended,
                     absl::Duration& lock_held, const std::function<void()>& locked) {
  RETURN_IF_ERROR(Begin(c, lock, t));
  if (lock && locked) locked();
  // Until the COMMIT's answer (or the failure) is in: the lock's hold time.
  struct HoldTimer {
    bool on;
    absl::Duration& total;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    ~HoldTimer() {
      if (on) total += absl::FromChrono(std::chrono::steady_clock::now() - start);
    }
  } hold{t.locked, lock_held};
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
  Finish(t, channel, tail);
  return c.Pipeline("commit", tail);
}

}  // namespace

absl::StatusOr<ResourcePage> ListResources(Conn& c, absl::string_view kind, absl::string_view after_name, int limit) {
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

BatchOutcome CommitBatch(Conn& c, const std::string& channel, std::vector<Pending>& batch, const TopUp& top_up,
                         bool keep_done_jobs) {
  bool lock = false;
  for (const Pending& p : batch) lock = lock || NeedsLock(p);
  // What `prepare` adds is taken off again before another try.
  struct Sizes {
    size_t writes, events, jobs;
  };
  std::vector<Sizes> sizes;
  sizes.reserve(batch.size());
  auto measure = [&] {
    for (size_t i = sizes.size(); i < batch.size(); ++i) {
      sizes.push_back({batch[i].m.writes.size(), batch[i].m.events.size(), batch[i].m.jobs.size()});
    }
  };
  measure();
  // Once, on the first try: what queued up while the lock was awaited
  // joins this hold (before anything of the batch is applied).
  bool topped = !top_up;
  std::function<void()> locked = [&] {
    if (topped) return;
    topped = true;
    top_up(batch);
    measure();
  };

  BatchOutcome out;
  auto& results = out.results;
  auto& appended = out.appended;
  absl::Status& failed = out.failed;
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
    t.keep_done_jobs = keep_done_jobs;
    failed = RunOnce(c, channel, batch, lock, t, results, appended, out.lock_held, locked);
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
  if (!committed) log::Error("store transaction failed", {{"error", std::string(failed.message())}});
  return out;
}

}  // namespace switchboard::core::pg
