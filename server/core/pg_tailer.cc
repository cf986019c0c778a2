#include "server/core/pg_tailer.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/thread_name.h"

namespace switchboard::core::pg {

absl::StatusOr<std::unique_ptr<Tailer>> Tailer::Start(Options options, int64_t from) {
  std::unique_ptr<Tailer> t(new Tailer(std::move(options), from));
  t->options_.spec.role = "log tailer";
  ASSIGN_OR_RETURN(t->read_, Conn::Open(t->options_.spec));
  t->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (t->wake_fd_ < 0) return absl::InternalError("log tailer: eventfd failed");
  if (t->options_.listen) t->ListenSession();
  t->thread_ = NamedThread("pg-tailer", [raw = t.get()] { raw->Loop(); });
  return t;
}

Tailer::Tailer(Options options, int64_t from) : options_(std::move(options)), delivered_(from) {}

Tailer::~Tailer() {
  Stop(absl::ZeroDuration());
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Tailer::SetListener(Store::CommitListener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

void Tailer::Wake() {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void Tailer::AfterDelivered(int64_t seq, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (seq > delivered()) {
      waiters_.emplace(seq, std::move(fn));
      return;
    }
  }
  fn();
}

void Tailer::Stop(absl::Duration drain) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ = absl::Now() + drain;
    }
  }
  Wake();
  if (thread_.joinable()) thread_.join();
}

// A LISTEN session, never in a transaction and used for nothing else. On a
// failure the poll carries on alone; the loop tries again at each poll.
void Tailer::ListenSession() {
  listen_.reset();
  next_listen_attempt_ = absl::Now() + options_.poll_interval;
  ConnectSpec spec = options_.spec;
  spec.role = "log listener";
  absl::StatusOr<std::unique_ptr<Conn>> c = Conn::Open(spec);
  if (!c.ok()) {
    log::Warn("store: log tailer cannot LISTEN; polling until it can", {{"error", std::string(c.status().message())}});
    return;
  }
  absl::StatusOr<Result> r = (*c)->ExecScript("listen", absl::StrCat("LISTEN ", QuoteIdent(options_.channel)));
  if (!r.ok()) {
    log::Warn("store: log tailer cannot LISTEN; polling until it can", {{"error", std::string(r.status().message())}});
    return;
  }
  listen_ = std::move(*c);
}

void Tailer::DrainNotifies() {
  if (!listen_) return;
  if (PQconsumeInput(listen_->get()) != 1 || PQstatus(listen_->get()) != CONNECTION_OK) {
    log::Warn("store: log tailer lost its LISTEN session; polling until it is back",
              {{"error", std::string(PQerrorMessage(listen_->get()))}});
    listen_.reset();
    next_listen_attempt_ = absl::Now() + options_.poll_interval;
    return;
  }
  // The payload (the new head) is not needed: the read below finds it.
  while (PGnotify* n = PQnotifies(listen_->get())) PQfreemem(n);
}

bool Tailer::CatchUp() {
  if (!read_->ok()) {
    if (!read_->Reconnect().ok()) return false;
    log::Info("store: log tailer reconnected");
  }
  Store::CommitListener listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = listener_;
  }
  if (!listener) {
    // Nobody to hand events to: follow the head (every event through it is
    // committed, in the same transaction as the counter).
    absl::StatusOr<Result> r = read_->Exec("read log head", "SELECT head FROM log_counter WHERE id=1");
    if (!r.ok() || r->rows() != 1) return false;
    int64_t head = r->Int(0, 0);
    std::lock_guard<std::mutex> lock(mu_);
    if (head > delivered()) delivered_.store(head, std::memory_order_release);
    return true;
  }
  for (;;) {
    Params p;
    p.Int(delivered()).Int(options_.read_batch);
    absl::StatusOr<Result> r = read_->Exec(
        "tail log",
        "SELECT seq, create_us, service, kind, resource, related, data FROM events WHERE seq>$1 ORDER BY seq LIMIT $2",
        p);
    if (!r.ok()) return false;
    std::vector<std::shared_ptr<const EventRecord>> events;
    events.reserve(static_cast<size_t>(r->rows()));
    int64_t next = delivered() + 1;
    for (int i = 0; i < r->rows(); ++i, ++next) {
      auto e = std::make_shared<EventRecord>();
      e->sequence = r->Int(i, 0);
      if (e->sequence != next) {
        // Commit order is sequence order (the counter's lock), so one
        // snapshot never shows a gap; should one appear anyway, deliver up
        // to it and read again, rather than skip an event for ever.
        log::Warn("store: log tailer saw a gap; reading again", {{"expected", next}, {"got", e->sequence}});
        break;
      }
      e->create_time_us = r->Int(i, 1);
      e->service = r->Bytes(i, 2);
      e->kind = r->Bytes(i, 3);
      e->resource = r->Bytes(i, 4);
      e->related = r->Bytes(i, 5);
      e->data = r->Bytes(i, 6);
      events.push_back(std::move(e));
    }
    if (events.empty()) return true;
    const int64_t last = events.back()->sequence;
    const bool full = static_cast<int>(events.size()) == options_.read_batch;
    listener(std::move(events));
    {
      std::lock_guard<std::mutex> lock(mu_);
      delivered_.store(last, std::memory_order_release);
    }
    RunReady(false);
    if (!full) return true;
  }
}

void Tailer::RunReady(bool all) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto end = all ? waiters_.end() : waiters_.upper_bound(delivered());
    for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    waiters_.erase(waiters_.begin(), end);
  }
  for (auto& fn : ready) fn();
}

void Tailer::Loop() {
  bool broken = false;
  for (;;) {
    if (options_.listen && !listen_ && absl::Now() >= next_listen_attempt_) ListenSession();
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {listen_ ? PQsocket(listen_->get()) : -1, POLLIN, 0}};
    // After a failed read, try again sooner than the poll; never spin.
    absl::Duration wait = broken ? std::min(options_.poll_interval, absl::Milliseconds(100)) : options_.poll_interval;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Draining: look again soon, until the last waiter's events are in.
      if (stopping_) wait = std::min(wait, absl::Milliseconds(10));
    }
    int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(wait));
    if (poll(fds, listen_ ? 2 : 1, timeout_ms) > 0) {
      if (fds[0].revents & POLLIN) {
        uint64_t n;
        (void)!read(wake_fd_, &n, sizeof(n));
      }
      if (listen_ && fds[1].revents) DrainNotifies();
    }
    bool ok = CatchUp();
    if (!ok && !broken) log::Warn("store: log tailer cannot read the log; retrying");
    if (ok && broken) log::Info("store: log tailer reads the log again");
    broken = !ok;
    RunReady(false);
    bool stop = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop = stopping_ && (waiters_.empty() || absl::Now() >= stop_deadline_);
    }
    if (stop) break;
  }
  RunReady(true);
}

}  // namespace switchboard::core::pg
