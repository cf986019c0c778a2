#include "gateway/eventgrid/publisher.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "gateway/eventgrid/outbound.h"
#include "switchboard/v1/cursors.grpc.pb.h"

namespace switchboard::gateway::eventgrid {
namespace {

PublisherOptions WithHolder(PublisherOptions o) {
  if (o.lease_holder.empty()) o.lease_holder = NewLeaseHolder();
  return o;
}

// The last commit and the hand-back while stopping: each gets this long.
constexpr std::chrono::milliseconds kStopCallTimeout{2000};

}  // namespace

Publisher::Publisher(const client::Connection* conn, std::function<std::unique_ptr<LogSource>()> make_source,
                     const TopicClient* topic, PublisherOptions options, Metrics* metrics)
    : conn_(conn),
      make_source_(std::move(make_source)),
      topic_(topic),
      options_(WithHolder(std::move(options))),
      metrics_(metrics),
      outage_("event grid topic", options_.outage_log_interval),
      lease_(conn, options_.cursor, options_.lease_holder, options_.lease_ttl) {}

Publisher::~Publisher() { Stop(); }

void Publisher::Start() {
  publisher_ = std::thread([this] { Run(); });
}

void Publisher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_.exchange(true)) return;
    halt_ = true;
    if (source_) source_->Cancel();
  }
  cv_.notify_all();
  commit_cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
}

void Publisher::Abandon() {
  abandon_ = true;
  Stop();
}

size_t Publisher::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool Publisher::lease_held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return token_ != 0 && !lost_;
}

void Publisher::Sleep(std::chrono::milliseconds d, const std::atomic<bool>& flag) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&flag] { return flag.load(); });
}

void Publisher::Run() {
  bool said_standby = false;
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    int64_t start = 0;
    if (Begin(&start, &said_standby, &backoff)) RunTerm(start);
  }
}

bool Publisher::Begin(int64_t* start, bool* said_standby, std::chrono::milliseconds* backoff) {
  if (!leased()) {
    if (LoadCursor(start)) return true;
    Sleep(*backoff, stop_);
    *backoff = std::min(options_.max_reconnect_backoff, *backoff * 2);
    return false;
  }
  CursorLeaseClient::Result r = lease_.Acquire(0);
  if (r.outcome == CursorLeaseClient::Result::kHeld) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      token_ = r.token;
      lease_until_ = r.valid_until;
    }
    *start = r.sequence;
    *said_standby = false;
    *backoff = std::chrono::milliseconds(100);
    log::Info("event grid publisher holds the cursor lease; publishing",
              {{"cursor", options_.cursor},
               {"holder", options_.lease_holder},
               {"term", r.token},
               {"after_sequence", r.sequence}});
    return true;
  }
  if (r.outcome == CursorLeaseClient::Result::kTaken) {
    if (!*said_standby) {
      log::Info("event grid publisher stands by: another gateway holds the cursor lease",
                {{"cursor", options_.cursor}, {"holder", options_.lease_holder}, {"why", r.message}});
      *said_standby = true;
    }
    Sleep(options_.standby_retry, stop_);
    return false;
  }
  log::Warn("cannot acquire the event grid publisher's cursor lease; retrying",
            {{"cursor", options_.cursor}, {"error", r.message}});
  metrics_->RecordError("eventgrid_cursor_lease");
  Sleep(std::min(*backoff, options_.standby_retry), stop_);
  *backoff = std::min(options_.max_reconnect_backoff, *backoff * 2);
  return false;
}

void Publisher::RunTerm(int64_t start) {
  bool run = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stop_) {
      run = true;
      halt_ = false;
      lost_ = false;
      queue_.clear();
      committable_ = start;
      publishing_done_ = false;
    }
  }
  if (run) {
    committed_ = start;
    std::thread reader([this, start] { ReadLoop(start); });
    std::thread committer([this] { CommitLoop(); });
    std::thread renewer;
    if (leased()) renewer = std::thread([this] { RenewLoop(); });

    PublishLoop(start);

    {
      std::lock_guard<std::mutex> lock(mu_);
      halt_ = true;
      if (source_) source_->Cancel();
      publishing_done_ = true;
    }
    cv_.notify_all();
    commit_cv_.notify_all();
    if (renewer.joinable()) renewer.join();
    committer.join();  // after its last commit
    reader.join();
  }
  int64_t token = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();  // read and not published: the next holder reads it again
    source_.reset();
    token = token_;
    token_ = 0;
  }
  if (!leased() || token == 0 || lost_ || abandon_) return;
  // A clean stop: hand the lease back, so another gateway goes on at once.
  grpc::Status s = lease_.Release(token, kStopCallTimeout);
  if (s.ok()) {
    log::Info("event grid publisher handed its cursor lease back",
              {{"cursor", options_.cursor}, {"holder", options_.lease_holder}, {"term", token}});
  } else {
    log::Warn("cannot hand the cursor lease back; it expires after its ttl",
              {{"cursor", options_.cursor}, {"error", s.error_message()}});
  }
}

void Publisher::LeaseLost(const std::string& why) {
  bool first = false;
  int64_t token = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = !lost_.exchange(true);
    token = token_;
    halt_ = true;
    if (source_) source_->Cancel();
  }
  cv_.notify_all();
  commit_cv_.notify_all();
  if (!first) return;
  log::Warn("event grid publisher lost its cursor lease: stops publishing, drops what it read, and stands by",
            {{"cursor", options_.cursor}, {"holder", options_.lease_holder}, {"term", token}, {"why", why}});
  metrics_->RecordError("eventgrid_cursor_lease_lost");
}

void Publisher::RenewLoop() {
  const auto period = std::max(options_.lease_ttl / 3, std::chrono::milliseconds(1));
  while (true) {
    int64_t token = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, period, [this] { return halt_.load(); });
      if (halt_) return;
      token = token_;
    }
    CursorLeaseClient::Result r = lease_.Acquire(token);
    if (r.outcome == CursorLeaseClient::Result::kHeld) {
      std::lock_guard<std::mutex> lock(mu_);
      lease_until_ = std::max(lease_until_, r.valid_until);
      continue;
    }
    if (r.outcome == CursorLeaseClient::Result::kTaken) return LeaseLost(r.message);
    log::Warn("cannot renew the event grid publisher's cursor lease",
              {{"cursor", options_.cursor}, {"error", r.message}});
    bool expired = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      expired = std::chrono::steady_clock::now() >= lease_until_;
    }
    if (expired) return LeaseLost(absl::StrCat("no renewal got through within the ttl: ", r.message));
  }
}

bool Publisher::LoadCursor(int64_t* out) {
  auto stub = v1::CursorService::NewStub(conn_->channel());
  auto ctx = conn_->NewUnaryContext();
  v1::GetCursorRequest req;
  req.set_name(options_.cursor);
  v1::Cursor cursor;
  grpc::Status s = stub->GetCursor(ctx.get(), req, &cursor);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    *out = 0;
    log::Info("event grid publisher starts a new cursor at the beginning of the log", {{"cursor", options_.cursor}});
    return true;
  }
  if (!s.ok()) {
    log::Warn("cannot read the publisher cursor; retrying",
              {{"cursor", options_.cursor}, {"error", s.error_message()}});
    return false;
  }
  *out = cursor.sequence();
  log::Info("event grid publisher resumes", {{"cursor", options_.cursor}, {"after_sequence", *out}});
  return true;
}

void Publisher::CommitCursor(int64_t sequence, int attempts) {
  auto stub = v1::CursorService::NewStub(conn_->channel());
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const auto started = std::chrono::steady_clock::now();
    auto ctx = conn_->NewUnaryContext();
    // The last attempt, while the term ends.
    if (halt_) client::SetDeadline(ctx.get(), absl::Milliseconds(kStopCallTimeout.count()));
    v1::CommitCursorRequest req;
    req.set_name(options_.cursor);
    req.set_sequence(sequence);
    if (leased()) {
      std::lock_guard<std::mutex> lock(mu_);
      req.set_lease_token(token_);
      req.set_lease_holder(options_.lease_holder);
    }
    v1::Cursor cursor;
    grpc::Status s = stub->CommitCursor(ctx.get(), req, &cursor);
    if (s.ok()) {
      committed_ = cursor.sequence();
      if (leased()) {  // a fenced commit renews the lease too
        std::lock_guard<std::mutex> lock(mu_);
        lease_until_ = std::max(lease_until_, started + options_.lease_ttl);
      }
      return;
    }
    if (leased() && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) return LeaseLost(s.error_message());
    log::Warn("cannot commit the publisher cursor",
              {{"cursor", options_.cursor}, {"sequence", sequence}, {"error", s.error_message()}});
    if (halt_) break;
    Sleep(std::chrono::milliseconds(100 << attempt), halt_);
  }
  // A later commit covers this one; a restart before it re-sends (at least once).
  metrics_->RecordError("eventgrid_cursor_commit");
}

void Publisher::Committable(int64_t sequence) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sequence <= committable_) return;
    committable_ = sequence;
  }
  commit_cv_.notify_one();
}

void Publisher::CommitLoop() {
  while (true) {
    int64_t target;
    bool last;
    {
      std::unique_lock<std::mutex> lock(mu_);
      commit_cv_.wait(lock, [this] { return publishing_done_ || lost_ || committable_ > committed_.load(); });
      if (lost_) return;  // the next holder commits
      target = committable_;
      last = publishing_done_;
    }
    if (last && abandon_) return;  // as a crash would: no last commit
    if (target > committed_.load()) CommitCursor(target, last ? 1 : 5);
    if (last) return;
  }
}

void Publisher::ReadLoop(int64_t after) {
  int64_t last = after;
  auto backoff = std::chrono::milliseconds(100);
  while (!halt_) {
    LogSource* src = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (halt_) break;
      source_ = make_source_();
      src = source_.get();
    }
    src->Open(last);
    if (halt_) src->Cancel();
    while (auto item = src->Next()) {
      last = item->sequence;
      backoff = std::chrono::milliseconds(100);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return halt_ || queue_.size() < options_.max_queue; });
      if (halt_) break;
      queue_.push_back(std::move(*item));
      cv_.notify_all();
    }
    grpc::Status s = src->Finish();
    if (halt_) break;
    metrics_->RecordError("eventgrid_watch");
    log::Warn("event grid publisher watch ended; reconnecting",
              {{"code", CodeName(static_cast<absl::StatusCode>(s.error_code()))},
               {"error", s.error_message()},
               {"after_sequence", last}});
    Sleep(backoff, halt_);
    backoff = std::min(options_.max_reconnect_backoff, backoff * 2);
  }
}

void Publisher::PublishLoop(int64_t start) {
  TopicLimits limits;
  limits.max_events = static_cast<size_t>(std::max(options_.max_events, 1));
  limits.max_bytes = options_.max_bytes;
  TopicBatch batch(limits);  // within Event Grid's limits whatever the options say
  int64_t pending = start;   // last log sequence whose events are all in `batch` or sent

  auto flush = [&](int64_t commit_through) {
    if (!batch.empty()) {
      if (leased()) {
        bool expired = false;
        {
          std::lock_guard<std::mutex> lock(mu_);
          expired = std::chrono::steady_clock::now() >= lease_until_;
        }
        // Another gateway may hold it by now: POST nothing more.
        if (expired) return LeaseLost("the lease ran out before a renewal got through");
      }
      const size_t events = batch.size();
      std::string body = batch.Take();
      PostResult last;
      absl::Status s = topic_->Post(body, std::chrono::steady_clock::time_point::max(), &halt_, &last, &outage_);
      if (!s.ok() && halt_) return;  // abandoned, uncommitted: sent again by the next holder or after a restart
      if (!s.ok()) {
        // A final 4xx: the topic will never take this batch.
        metrics_->RecordError("eventgrid_publish_rejected");
        log::Error("event grid topic rejected a batch; skipping it",
                   {{"error", std::string(s.message())}, {"events", events}});
      } else {
        metrics_->Count("eventgrid_events_published", "Response events POSTed to the Event Grid topic.", events);
        metrics_->Count("eventgrid_posts", "POSTs accepted by the Event Grid topic.");
        if (last.attempts > 1) metrics_->Count("eventgrid_post_retries", "Retried POSTs.", last.attempts - 1);
      }
    }
    Committable(commit_through);
  };

  while (!halt_) {
    std::optional<Encoded> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (queue_.empty()) {
        cv_.wait_for(lock, batch.empty() ? std::chrono::milliseconds(100) : options_.linger,
                     [this] { return halt_ || !queue_.empty(); });
      }
      if (halt_) break;
      if (!queue_.empty()) {
        item = std::move(queue_.front());
        queue_.pop_front();
        cv_.notify_all();
      }
    }
    if (!item) {
      if (!batch.empty() || pending > committed_.load()) flush(pending);
      continue;
    }
    for (const Event& e : item->events) {
      // The write-SAS check and the one-event size limit (outbound.h).
      std::string json = TopicJson(e, batch.limits(), metrics_);
      if (!batch.Fits(json)) {
        flush(pending);
        if (halt_) return;
      }
      batch.Add(std::move(json));
    }
    pending = item->sequence;
  }
}

}  // namespace switchboard::gateway::eventgrid
