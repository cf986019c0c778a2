#include "server/notification/status_bridge.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "server/core/job_queue.h"
#include "server/notification/status_routes.h"

namespace switchboard::notification {
namespace {

constexpr char kScope[] = "notification.StatusBridge";
// Where a data dir from before jobs kept the cursor (a resource holding the
// sequence in decimal); moved into the job once.
constexpr char kOldCursorKind[] = "status_bridge";
constexpr char kOldCursorName[] = "cursor";

absl::StatusOr<int64_t> ParseCursor(absl::string_view text, absl::string_view where) {
  int64_t cursor = 0;
  if (!absl::SimpleAtoi(text, &cursor) || cursor < 0) {
    return absl::DataLossError(
        absl::StrCat("status bridge cursor '", text, "' in ", where, " is not a log sequence (a number >= 0)"));
  }
  return cursor;
}

bool IsLeaseLost(const absl::Status& s) {
  return absl::IsFailedPrecondition(s) && absl::StartsWith(s.message(), "lease lost");
}

}  // namespace

struct StatusBridge::Shared {
  std::atomic<bool> lost{false};

  // For every write of the bridge: a lost lease stops it.
  void OnWritten(const absl::Status& s, core::Waiter& wakeup) {
    if (s.ok() || absl::IsUnavailable(s)) return;  // UNAVAILABLE: the store is closing
    if (!IsLeaseLost(s)) {
      log::Error("status bridge could not save its cursor", {{"error", s.ToString()}});
      return;
    }
    if (!lost.exchange(true)) {
      log::Error("status bridge stops: its cursor's lease was taken over, it writes nothing more",
                 {{"error", s.ToString()}});
    }
    wakeup.Wake();
  }
};

StatusBridge::StatusBridge(core::Store* store, core::EventHub* hub, BusEngine* bus, Options options)
    : store_(store),
      hub_(hub),
      bus_(bus),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()),
      // Parked in the hub while the bridge is caught up, and behind the 1 s
      // timer: kicks the bridge while it runs. Outlives it (the hub and the
      // timer hold it); the bridge detaches it as its chain ends, under the
      // same lock as a kick, so a kick never reaches a bridge that is gone.
      wakeup_(std::make_shared<core::DetachableWaiter>([this] { Kick(); })) {
  if (options_.owner.empty()) options_.owner = core::NewReplicaId();
}

StatusBridge::~StatusBridge() { Stop(); }

bool StatusBridge::lease_lost() const { return shared_->lost.load(); }

absl::StatusOr<core::Job> StatusBridge::Acquire() {
  // READY after a clean stop or a restart (opening the store releases every
  // lease), or RUNNING under a lease that expired.
  std::promise<absl::StatusOr<std::vector<core::Job>>> claimed;
  store_->jobs().Claim(kJobKind, options_.owner, 1, options_.lease,
                       [&claimed](absl::StatusOr<std::vector<core::Job>> r) { claimed.set_value(std::move(r)); });
  ASSIGN_OR_RETURN(std::vector<core::Job> jobs, claimed.get_future().get());
  if (!jobs.empty()) return std::move(jobs.front());

  // No job yet: this data dir's first start with jobs. The old cursor, if
  // any, becomes the payload, and goes, in one transaction.
  auto payload = std::make_shared<std::string>("0");
  core::Mutation m;
  m.scope = kScope;
  m.jobs.push_back(core::JobWrite::EnqueueClaimed(kJobKind, kJobKey, "0", options_.owner, options_.lease));
  m.prepare = [payload](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<std::string> old, txn.Get(kOldCursorKind, kOldCursorName));
    if (!old.has_value()) return absl::OkStatus();
    ASSIGN_OR_RETURN(int64_t cursor, ParseCursor(*old, "resource status_bridge/cursor"));
    *payload = std::to_string(cursor);
    self.jobs.front().payload = *payload;
    self.writes.push_back({kOldCursorKind, kOldCursorName, "", true});
    return absl::OkStatus();
  };
  std::promise<absl::StatusOr<core::CommitResult>> committed;
  store_->CommitAsync(std::move(m),
                      [&committed](absl::StatusOr<core::CommitResult> r) { committed.set_value(std::move(r)); });
  ASSIGN_OR_RETURN(core::CommitResult r, committed.get_future().get());
  if (r.jobs.empty() || r.jobs.front().job_id == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "status bridge: another owner holds the ", kJobKind,
        " job under a lease that has not expired; only one bridge runs per data dir: stop the other, or wait for "
        "its lease (",
        absl::FormatDuration(options_.lease), ") to expire"));
  }
  core::Job job;
  job.id = r.jobs.front().job_id;
  job.kind = kJobKind;
  job.key = kJobKey;
  job.state = core::JobState::kRunning;
  job.attempts = 1;
  job.payload = *payload;
  job.lease = r.jobs.front();
  return job;
}

absl::Status StatusBridge::Start(core::Pool* pool) {
  ASSIGN_OR_RETURN(core::Job job, Acquire());
  ASSIGN_OR_RETURN(int64_t cursor, ParseCursor(job.payload, absl::StrCat("job ", job.id, " (", kJobKind, ")")));
  lease_ = job.lease;
  cursor_ = cursor;
  submitted_ = cursor;
  renewed_ = absl::Now();
  pool_ = pool;
  // "claim": the lease's fencing token (a field named token is redacted).
  log::Info("status bridge started",
            {{"cursor", cursor}, {"job", job.id}, {"owner", lease_.owner}, {"claim", lease_.token}});
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
    busy_ = true;
  }
  Post([this] { Step(); });
  return absl::OkStatus();
}

void StatusBridge::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    stop_ = true;
  }
  Kick();
  std::unique_lock<std::mutex> lock(mu_);
  ended_cv_.wait(lock, [this] { return ended_; });
}

bool StatusBridge::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !started_ || ended_;
}

void StatusBridge::Kick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || ended_) return;
    if (busy_) {
      kicked_ = true;
      return;
    }
    busy_ = true;
    if (timer_ != 0) pool_->Cancel(timer_);
    timer_ = 0;
  }
  Post([this] { Step(); });
}

void StatusBridge::Post(std::function<void()> task) {
  if (pool_->Post(task)) return;
  // A full queue: a little later (a timer's task is admitted when it is
  // scheduled). The pool stops only after the engines, so it is not
  // stopping while the bridge runs; if it is, the task runs here.
  if (pool_->RunAfter(std::chrono::milliseconds(100), task) != 0) return;
  log::Error("status bridge: its pool refused a step; running it on this thread");
  task();
}

void StatusBridge::Park() {
  static const core::WatchFilter kAll;
  auto next = hub_->NextEvent(cursor_.load(), kAll, /*live=*/false, wakeup_);
  if (next.kind == core::EventHub::NextKind::kClosed) return Finish();
  if (next.kind != core::EventHub::NextKind::kWait) {
    Post([this] { Step(); });  // more came meanwhile (posted: no recursion under a steady stream)
    return;
  }
  Idle();
}

void StatusBridge::Idle() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!kicked_ && !stop_) {
      busy_ = false;
      // Behind the hub's wake: a timer (through the wakeup, which outlives
      // the bridge).
      timer_ = pool_->RunAfter(std::chrono::seconds(1), [w = wakeup_] { w->Wake(); });
      return;
    }
    kicked_ = false;
  }
  Post([this] { Step(); });  // kicked meanwhile
}

void StatusBridge::Step() {
  bool stop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_ = false;
    stop = stop_;
  }
  if (stop || shared_->lost.load()) return Finish();
  // When no subscription or webhook binds any status key, nothing up to
  // the log's head would be published (as a topic exchange drops what no
  // queue binds): pass it by without reading or parsing it. The head is
  // read before the routes are asked, so no event committed after a route
  // appeared is passed by.
  const int64_t head = store_->HeadSequence();
  if (head > cursor_.load() && !AnyStatusKeyWanted()) {
    cursor_ = head;
    MaybeSave(/*idle=*/false);
    return Park();
  }
  auto batch = store_->ReadEvents(cursor_.load(), options_.batch_size, "");
  if (!batch.ok()) {
    log::Error("status bridge cannot read the log", {{"error", batch.status().ToString()}});
    return Idle();  // the timer tries again
  }
  if (batch->events.empty()) {
    MaybeSave(/*idle=*/true);
    return Park();
  }
  PublishBatch(*batch);
}

void StatusBridge::AfterBatch(int64_t through, bool unapplied, bool closing) {
  if (unapplied) submitted_ = -1;  // not known to be saved: save soon
  if (closing || shared_->lost.load()) return Finish();
  cursor_ = through;
  // Published events saved the cursor with them; one passed by is saved
  // now and then, so a restart re-scans little.
  MaybeSave(/*idle=*/false);
  Step();
}

void StatusBridge::Finish() {
  if (shared_->lost.load()) return MarkEnded();  // the new holder records the cursor
  // Saved and released in one: READY again, for the next start (or another
  // replica). Stop returns once it is durable.
  core::Mutation m;
  m.scope = kScope;
  m.jobs.push_back(CheckpointAt(cursor_.load()));
  m.jobs.push_back(core::JobWrite::RetryAt(lease_, absl::Now(), ""));
  store_->CommitAsync(std::move(m), [this](absl::StatusOr<core::CommitResult> r) {
    // Not through OnWritten: the chain is ending, nothing is left to wake.
    if (!r.ok() && !absl::IsUnavailable(r.status())) {
      log::Error("status bridge could not release its cursor", {{"error", r.status().ToString()}});
    }
    MarkEnded();
  });
}

void StatusBridge::MarkEnded() {
  wakeup_->Detach();
  std::lock_guard<std::mutex> lock(mu_);
  if (timer_ != 0) pool_->Cancel(timer_);
  timer_ = 0;
  ended_ = true;
  ended_cv_.notify_all();
}

core::JobWrite StatusBridge::CheckpointAt(int64_t sequence) const {
  return core::JobWrite::Checkpoint(lease_, std::to_string(sequence), options_.lease);
}

void StatusBridge::MaybeSave(bool idle) {
  const int64_t c = cursor_.load();
  const bool behind =
      c != submitted_ && (idle || submitted_ < 0 || c - submitted_ >= 16 * static_cast<int64_t>(options_.batch_size));
  const bool heartbeat_due = absl::Now() - renewed_ >= options_.heartbeat;
  if (!behind && !heartbeat_due) return;
  core::Mutation m;
  m.scope = kScope;
  m.jobs.push_back(CheckpointAt(c));
  submitted_ = c;
  renewed_ = absl::Now();
  store_->CommitAsync(std::move(m), [shared = shared_, wakeup = wakeup_](absl::StatusOr<core::CommitResult> r) {
    shared->OnWritten(r.status(), *wakeup);
  });
}

bool StatusBridge::AnyStatusKeyWanted() const {
  for (const std::string& key : AllStatusRoutingKeys()) {
    if (bus_->AnyRouteWants(key)) return true;
  }
  return false;
}

void StatusBridge::PublishBatch(const core::EventBatch& batch) {
  static const Principal kBridge{"status-bridge", Role::kAdmin, false};
  const int64_t through = std::max(batch.scanned_through, batch.events.back().sequence);
  struct Pending {
    std::mutex mu;
    // The publishes in flight, plus one while they are being submitted.
    int outstanding = 1;
    bool closing = false;
    // A publish that wrote nothing (a repeat, or refused): its checkpoint
    // did not land.
    bool unapplied = false;
  };
  auto pending = std::make_shared<Pending>();
  // The last to finish (a publish's commit, or the submitting step) steps
  // on, on the pool.
  auto finish_one = [this, pending, through] {
    bool unapplied, closing;
    {
      std::lock_guard<std::mutex> lock(pending->mu);
      if (--pending->outstanding > 0) return;
      unapplied = pending->unapplied;
      closing = pending->closing;
    }
    Post([this, through, unapplied, closing] { AfterBatch(through, unapplied, closing); });
  };
  bool published = false;
  // Submitted in log order from this one step, so the store commits them
  // (group-committed together) in that order, and the checkpoints with them.
  for (const auto& record : batch.events) {
    // As a topic exchange drops what no queue binds, a status change that no
    // subscription or webhook wants is not published (nor converted).
    auto envelope = StatusEnvelope(record, [this](const std::string& key) { return bus_->AnyRouteWants(key); });
    if (!envelope.ok()) {
      log::Error("status bridge skipped an event", {{"sequence", record.sequence}, {"error", envelope.status().ToString()}});
      continue;
    }
    if (!envelope->has_value()) continue;
    v1::PublishRequest req;
    req.set_request_id((*envelope)->event_uuid());
    *req.mutable_envelope() = std::move(**envelope);
    {
      std::lock_guard<std::mutex> lock(pending->mu);
      ++pending->outstanding;
    }
    auto done = [pending, finish_one, shared = shared_, wakeup = wakeup_,
                 seq = record.sequence](core::Reply<v1::PublishResponse> r) {
      if (!r.ok() && IsLeaseLost(r.status())) shared->OnWritten(r.status(), *wakeup);
      {
        std::lock_guard<std::mutex> lock(pending->mu);
        if (!r.ok() || r.replayed()) pending->unapplied = true;
        if (!r.ok()) {
          if (absl::IsUnavailable(r.status())) {
            pending->closing = true;
          } else if (!IsLeaseLost(r.status())) {
            log::Error("status bridge could not publish", {{"sequence", seq}, {"error", r.status().ToString()}});
          }
        }
      }
      finish_one();
    };
    bus_->Publish(kBridge, req, std::move(done), {CheckpointAt(record.sequence)});
    submitted_ = record.sequence;
    published = true;
  }
  if (published) renewed_ = absl::Now();
  finish_one();
}

}  // namespace switchboard::notification
