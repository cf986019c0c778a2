#include "gateway/eventgrid/publisher.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/thread_name.h"
#include "gateway/eventgrid/outbound.h"

namespace switchboard::gateway::eventgrid {
namespace {

CursorLeaseOptions LeaseOptions(const PublisherOptions& p) {
  CursorLeaseOptions o;
  o.cursor = p.cursor;
  o.holder = p.lease_holder;
  o.ttl = p.lease_ttl;
  o.standby_retry = p.standby_retry;
  o.max_backoff = p.max_reconnect_backoff;
  o.what = "event grid publisher";
  o.doing = "publishing";
  o.ttl_key = "eventgrid_cursor_lease_seconds";
  o.error_kind = "eventgrid_cursor_lease";
  o.commit_error_kind = "eventgrid_cursor_commit";
  return o;
}

}  // namespace

Publisher::Publisher(const client::Connection* conn, std::function<std::unique_ptr<LogSource>()> make_source,
                     const TopicClient* topic, PublisherOptions options, Metrics* metrics)
    : make_source_(std::move(make_source)),
      topic_(topic),
      options_(std::move(options)),
      metrics_(metrics),
      outage_("event grid topic", options_.outage_log_interval),
      lease_(conn, LeaseOptions(options_), [metrics](const std::string& kind) { metrics->RecordError(kind); }) {}

Publisher::~Publisher() { Stop(); }

void Publisher::Start() {
  publisher_ = NamedThread("eg-publisher", [this] { Run(); });
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

bool Publisher::lease_held() const { return lease_.held(); }

void Publisher::Sleep(std::chrono::milliseconds d, const std::atomic<bool>& flag) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&flag] { return flag.load(); });
}

void Publisher::Run() {
  lease_.RunTerms(
      stop_, [this](std::chrono::milliseconds d) { Sleep(d, stop_); }, [this](int64_t start) { RunTerm(start); });
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
    lease_.StartTerm([this] { LeaseLost(); });
    std::thread reader = NamedThread("eg-reader", [this, start] { ReadLoop(start); });
    std::thread committer = NamedThread("eg-committer", [this] { CommitLoop(); });

    PublishLoop(start);

    {
      std::lock_guard<std::mutex> lock(mu_);
      halt_ = true;
      if (source_) source_->Cancel();
      publishing_done_ = true;
    }
    cv_.notify_all();
    commit_cv_.notify_all();
    lease_.StopRenewing();
    committer.join();  // after its last commit
    reader.join();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();  // read and not published: the next holder reads it again
    source_.reset();
  }
  // A clean stop hands the lease back, so another gateway goes on at once.
  lease_.EndTerm(!abandon_);
}

void Publisher::LeaseLost() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    lost_ = true;
    halt_ = true;
    if (source_) source_->Cancel();
  }
  cv_.notify_all();
  commit_cv_.notify_all();
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
    int64_t committed = 0;
    if (target > committed_.load() &&
        lease_.Commit(target, last ? 1 : 5, halt_, [this](std::chrono::milliseconds d) { Sleep(d, halt_); },
                      &committed)) {
      committed_ = committed;
    }
    if (last) return;
  }
}

void Publisher::ReadLoop(int64_t after) {
  int64_t last = after;
  auto backoff = std::chrono::milliseconds(100);
  bool reconnecting = false;
  while (!halt_) {
    // The server may have restarted and freed the lease: renew it before
    // reading (and so publishing) anything more (CursorLeaseHolder::Confirm).
    if (reconnecting && !lease_.Confirm()) {
      Sleep(backoff, halt_);
      backoff = std::min(options_.max_reconnect_backoff, backoff * 2);
      continue;
    }
    reconnecting = true;
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
      // Another gateway may hold the lease by now: POST nothing more.
      if (!lease_.Valid()) return;
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
