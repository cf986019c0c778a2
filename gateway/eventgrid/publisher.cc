#include "gateway/eventgrid/publisher.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "gateway/eventgrid/outbound.h"
#include "switchboard/v1/cursors.grpc.pb.h"

namespace switchboard::gateway::eventgrid {

Publisher::Publisher(const client::Connection* conn, std::function<std::unique_ptr<LogSource>()> make_source,
                     const TopicClient* topic, PublisherOptions options, Metrics* metrics)
    : conn_(conn),
      make_source_(std::move(make_source)),
      topic_(topic),
      options_(std::move(options)),
      metrics_(metrics),
      outage_("event grid topic", options_.outage_log_interval) {}

Publisher::~Publisher() { Stop(); }

void Publisher::Start() {
  publisher_ = std::thread([this] { PublishLoop(); });
}

void Publisher::Stop() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (source_) source_->Cancel();
  }
  cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (source_) source_->Cancel();
    publishing_done_ = true;
  }
  cv_.notify_all();
  commit_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  if (reader_.joinable()) reader_.join();
}

size_t Publisher::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void Publisher::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
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
    auto ctx = conn_->NewUnaryContext();
    if (stop_) client::SetDeadline(ctx.get(), absl::Seconds(2));  // the last attempt, while stopping
    v1::CommitCursorRequest req;
    req.set_name(options_.cursor);
    req.set_sequence(sequence);
    v1::Cursor cursor;
    grpc::Status s = stub->CommitCursor(ctx.get(), req, &cursor);
    if (s.ok()) {
      committed_ = cursor.sequence();
      return;
    }
    log::Warn("cannot commit the publisher cursor",
              {{"cursor", options_.cursor}, {"sequence", sequence}, {"error", s.error_message()}});
    if (stop_) break;
    Sleep(std::chrono::milliseconds(100 << attempt));
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
      commit_cv_.wait(lock, [this] { return publishing_done_ || committable_ > committed_.load(); });
      target = committable_;
      last = publishing_done_;
    }
    if (target > committed_.load()) CommitCursor(target, last ? 1 : 5);
    if (last) return;
  }
}

void Publisher::ReadLoop(int64_t after) {
  int64_t last = after;
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    LogSource* src = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      source_ = make_source_();
      src = source_.get();
    }
    src->Open(last);
    if (stop_) src->Cancel();
    while (auto item = src->Next()) {
      last = item->sequence;
      backoff = std::chrono::milliseconds(100);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || queue_.size() < options_.max_queue; });
      if (stop_) break;
      queue_.push_back(std::move(*item));
      cv_.notify_all();
    }
    grpc::Status s = src->Finish();
    if (stop_) break;
    metrics_->RecordError("eventgrid_watch");
    log::Warn("event grid publisher watch ended; reconnecting",
              {{"code", CodeName(static_cast<absl::StatusCode>(s.error_code()))},
               {"error", s.error_message()},
               {"after_sequence", last}});
    Sleep(backoff);
    backoff = std::min(options_.max_reconnect_backoff, backoff * 2);
  }
}

void Publisher::PublishLoop() {
  int64_t start = 0;
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_ && !LoadCursor(&start)) {
    Sleep(backoff);
    backoff = std::min(options_.max_reconnect_backoff, backoff * 2);
  }
  if (stop_) return;
  committed_ = start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    committable_ = start;
    reader_ = std::thread([this, start] { ReadLoop(start); });
    committer_ = std::thread([this] { CommitLoop(); });
  }

  TopicLimits limits;
  limits.max_events = static_cast<size_t>(std::max(options_.max_events, 1));
  limits.max_bytes = options_.max_bytes;
  TopicBatch batch(limits);  // within Event Grid's limits whatever the options say
  int64_t pending = start;   // last log sequence whose events are all in `batch` or sent

  auto flush = [&](int64_t commit_through) {
    if (!batch.empty()) {
      const size_t events = batch.size();
      std::string body = batch.Take();
      PostResult last;
      absl::Status s = topic_->Post(body, std::chrono::steady_clock::time_point::max(), &stop_, &last, &outage_);
      if (!s.ok() && stop_) return;  // abandoned, uncommitted: sent again after a restart
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

  while (!stop_) {
    std::optional<Encoded> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (queue_.empty()) {
        cv_.wait_for(lock, batch.empty() ? std::chrono::milliseconds(100) : options_.linger,
                     [this] { return stop_ || !queue_.empty(); });
      }
      if (stop_) break;
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
        if (stop_) return;
      }
      batch.Add(std::move(json));
    }
    pending = item->sequence;
  }
}

}  // namespace switchboard::gateway::eventgrid
