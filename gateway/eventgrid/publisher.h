#pragma once
// The outbound Event Grid publisher: stateless and lossless.
//
//  1. Reads its durable cursor from switchboardd (CursorService; a cursor
//     never committed starts at 0, the beginning of the log).
//  2. Watches the log after it (a LogSource), encoding each log event into
//     response events.
//  3. Batches them in log order (so each operation's events keep their
//     order), at most `max_events` per POST and under `max_bytes` of JSON,
//     never over Event Grid's 100 events and 1 MB (outbound.h: TopicBatch;
//     TopicJson withholds write-capable SAS URLs and replaces an event too
//     large for any POST with a failure).
//  4. POSTs each batch to the topic, retrying 5xx, 429 and network errors
//     with capped exponential backoff for as long as it takes.
//  5. Commits the cursor to the last log sequence of the batch only after
//     the topic accepted it. Commits run on a thread of their own, so the
//     next POST does not wait for the store's fsync; while one is in flight
//     the later ones coalesce into the newest sequence.
// Killed at any moment, a restarted publisher resumes from the cursor: no
// event is lost, and at most the batches POSTed since the last commit (one
// commit's round trip of them) are sent twice.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "clients/lib/client.h"
#include "gateway/eventgrid/log_source.h"
#include "gateway/eventgrid/outage_log.h"
#include "gateway/eventgrid/topic_client.h"
#include "gateway/http/metrics.h"

namespace switchboard::gateway::eventgrid {

struct PublisherOptions {
  // "cursors/<id>".
  std::string cursor;
  int max_events = 100;
  size_t max_bytes = 1000000;
  // How long a partial batch waits for more events before it is sent.
  std::chrono::milliseconds linger{5};
  // Log events read ahead of the topic at most.
  size_t max_queue = 10000;
  std::chrono::milliseconds max_reconnect_backoff{5000};
  // While the topic is unreachable: one log line at once, then at most one
  // per this interval, and one when it is back.
  std::chrono::milliseconds outage_log_interval{60000};
};

class Publisher {
 public:
  Publisher(const client::Connection* conn, std::function<std::unique_ptr<LogSource>()> make_source,
            const TopicClient* topic, PublisherOptions options, Metrics* metrics);
  ~Publisher();

  void Start();
  // Stops reading and posting; a batch being retried is abandoned
  // (uncommitted, so it is sent again by the next publisher).
  void Stop();

  // Log events read but not yet published.
  size_t queue_depth() const;
  // The sequence last committed to the cursor.
  int64_t committed() const { return committed_.load(); }

 private:
  void ReadLoop(int64_t after);
  void PublishLoop();
  bool LoadCursor(int64_t* out);
  // Commits `sequence`, trying up to `attempts` times (once while stopping).
  void CommitCursor(int64_t sequence, int attempts);
  // Commits the newest published sequence whenever it is ahead of the
  // cursor; on Stop, makes one last attempt.
  void CommitLoop();
  // Hands a published sequence to CommitLoop.
  void Committable(int64_t sequence);
  void Sleep(std::chrono::milliseconds d);

  const client::Connection* conn_;
  std::function<std::unique_ptr<LogSource>()> make_source_;
  const TopicClient* topic_;
  PublisherOptions options_;
  Metrics* metrics_;
  OutageLog outage_;

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0};
  // Guarded by mu_: the newest sequence whose events the topic accepted.
  int64_t committable_ = 0;
  bool publishing_done_ = false;
  std::condition_variable commit_cv_;
  std::thread committer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Encoded> queue_;
  std::unique_ptr<LogSource> source_;
  std::thread reader_;
  std::thread publisher_;
};

}  // namespace switchboard::gateway::eventgrid
