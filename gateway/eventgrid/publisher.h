#pragma once
// The outbound Event Grid publisher: stateless and lossless.
//
//  0. With a cursor lease (lease_ttl > 0, the default), takes turns with the
//     other gateways publishing from the same cursor (CursorLeaseHolder,
//     gateway/cursor_lease_holder.h, shared with the status queue emitter):
//     it acquires the cursor's lease (CursorService.AcquireCursorLease)
//     before it reads or publishes anything, standing by and trying again every
//     `standby_retry` while another gateway holds it (one log line when it
//     starts standing by). While it holds the lease it renews it every third
//     of the ttl and commits with its fencing token; when a renewal or a
//     commit says the lease is lost (another gateway took it: this one
//     stalled past the ttl) or no renewal got through within the ttl, it
//     stops publishing, drops what it read, and stands by again, to resume
//     from the cursor when it gets the lease back. A clean Stop hands the
//     lease back after the last commit, so another gateway goes on at once;
//     a gateway that dies leaves it to expire (the ttl).
//  1. Reads its durable cursor from switchboardd (with a lease, the
//     sequence the lease came with; otherwise CursorService.GetCursor: a
//     cursor never committed starts at 0, the beginning of the log).
//  2. Watches the log after it (a LogSource), encoding each log event into
//     response events.
//  3. Batches them in log order (so each operation's events keep their
//     order), at most `max_events` per POST and under `max_bytes` of JSON,
//     never over Event Grid's 100 events and 1 MB (outbound.h: TopicBatch;
//     TopicJson withholds write-capable SAS URLs and replaces an event too
//     large for any POST with a failure).
//  4. POSTs each batch to the topic, retrying 5xx, 429 and network errors
//     with capped exponential backoff for as long as it takes (or until the
//     lease is lost).
//  5. Commits the cursor to the last log sequence of the batch only after
//     the topic accepted it. Commits run on a thread of their own, so the
//     next POST does not wait for the store's fsync; while one is in flight
//     the later ones coalesce into the newest sequence.
// Killed at any moment, a restarted publisher resumes from the cursor: no
// event is lost, and at most the batches POSTed since the last commit (one
// commit's round trip of them) are sent twice; so are those of a gateway
// that lost its lease, and those POSTed by a stalled holder before it finds
// out.
//
// Threads: one runs the publisher (stand by, acquire, then a term of
// publishing), and each term adds a reader, a committer and a renewer,
// joined when the term ends (the lease lost, or Stop).

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
#include "gateway/cursor_lease_holder.h"
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
  // The cursor lease's ttl; 0: no lease (every publisher of the cursor
  // publishes every event). Renewed every third of it.
  std::chrono::milliseconds lease_ttl{10000};
  // While another holder has the lease: how often to try again.
  std::chrono::milliseconds standby_retry{2000};
  // The lease's holder id; empty: NewLeaseHolder() (unique per process).
  std::string lease_holder;
};

class Publisher {
 public:
  Publisher(const client::Connection* conn, std::function<std::unique_ptr<LogSource>()> make_source,
            const TopicClient* topic, PublisherOptions options, Metrics* metrics);
  ~Publisher();

  void Start();
  // Stops reading and posting; a batch being retried is abandoned
  // (uncommitted, so it is sent again by the next publisher). Makes one
  // last commit, then hands the lease back.
  void Stop();
  // Stops as a crash would (for tests): no last commit, and the lease is
  // left to expire.
  void Abandon();

  // Log events read but not yet published.
  size_t queue_depth() const;
  // The sequence last committed to the cursor.
  int64_t committed() const { return committed_.load(); }
  // True while this publisher holds the cursor's lease (always false
  // without a lease).
  bool lease_held() const;
  const std::string& lease_holder() const { return lease_.holder(); }

 private:
  // The publisher thread: stands by, acquires, runs a term; until Stop.
  void Run();
  // Publishes from `start` until Stop or the lease is lost.
  void RunTerm(int64_t start);
  void ReadLoop(int64_t after);
  void PublishLoop(int64_t start);
  // Commits the newest published sequence whenever it is ahead of the
  // cursor; when the term ends, makes one last attempt (none after the
  // lease was lost or on Abandon).
  void CommitLoop();
  // Ends the term: the lease is gone (CursorLeaseHolder's on_lost).
  void LeaseLost();
  // Hands a published sequence to CommitLoop.
  void Committable(int64_t sequence);
  // Waits `d`, or until `flag` is true.
  void Sleep(std::chrono::milliseconds d, const std::atomic<bool>& flag);

  std::function<std::unique_ptr<LogSource>()> make_source_;
  const TopicClient* topic_;
  PublisherOptions options_;
  Metrics* metrics_;
  OutageLog outage_;
  CursorLeaseHolder lease_;

  // Stop (or Abandon) was called.
  std::atomic<bool> stop_{false};
  std::atomic<bool> abandon_{false};
  // The current term ends: stop_, or the lease lost. Set under mu_.
  std::atomic<bool> halt_{false};
  std::atomic<bool> lost_{false};
  std::atomic<int64_t> committed_{0};
  // Guarded by mu_: the newest sequence whose events the topic accepted.
  int64_t committable_ = 0;
  bool publishing_done_ = false;
  std::condition_variable commit_cv_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Encoded> queue_;
  std::unique_ptr<LogSource> source_;
  std::thread publisher_;
};

}  // namespace switchboard::gateway::eventgrid
