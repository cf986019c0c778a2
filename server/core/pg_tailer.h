#pragma once
// The log tailer of the PostgreSQL store (pg_store.h): it hands every event
// of the shared log to the store's commit listener, whichever replica wrote
// it, exactly once and in sequence order, by reading the events table after
// the last sequence it delivered. Three things wake it: this store's own
// commits (Wake), a NOTIFY that every log transaction sends (received on a
// session of its own that only LISTENs), and a poll behind both, so that
// watches go on when the LISTEN session is lost (it reconnects).
//
// A commit's callback waits for the tailer (AfterDelivered): once a write
// is acknowledged, a watch started on this replica sees it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/pg_conn.h"
#include "server/core/store.h"

namespace switchboard::core::pg {

class Tailer {
 public:
  struct Options {
    // For its two sessions (reads, and LISTEN).
    ConnectSpec spec;
    // The NOTIFY channel (LogChannel).
    std::string channel;
    absl::Duration poll_interval = absl::Seconds(1);
    // Off: no LISTEN session; own commits and the poll only.
    bool listen = true;
    // Most events read (and handed to the listener) at once.
    int read_batch = 1000;
  };

  // Starts tailing after sequence `from` (the head when the store opened:
  // older events are read with ReadEvents).
  static absl::StatusOr<std::unique_ptr<Tailer>> Start(Options options, int64_t from);
  ~Tailer();

  // Receives the events from here on, on the tailer's thread. Without one,
  // the tailer follows the log's head without reading events.
  void SetListener(Store::CommitListener listener);
  // This store committed events: read them now.
  void Wake();
  // Runs `fn` once the events through `seq` have been delivered: at once,
  // on the caller's thread, if they have; else on the tailer's thread.
  // `fn` must not block.
  void AfterDelivered(int64_t seq, std::function<void()> fn);
  // The last sequence delivered.
  int64_t delivered() const { return delivered_.load(std::memory_order_acquire); }
  // Keeps delivering until every AfterDelivered has run or `drain` has
  // passed (those left then run anyway: what they wait for is durable),
  // then stops.
  void Stop(absl::Duration drain);

 private:
  explicit Tailer(Options options, int64_t from);
  void Loop();
  // Reads and delivers what is new; false on a lost session.
  bool CatchUp();
  void ListenSession();
  void DrainNotifies();
  void RunReady(bool all);

  Options options_;
  std::unique_ptr<Conn> read_;
  std::unique_ptr<Conn> listen_;
  int wake_fd_ = -1;
  std::atomic<int64_t> delivered_;
  std::thread thread_;

  std::mutex mu_;
  Store::CommitListener listener_;
  std::multimap<int64_t, std::function<void()>> waiters_;
  bool stopping_ = false;
  absl::Time stop_deadline_ = absl::InfiniteFuture();
  absl::Time next_listen_attempt_ = absl::InfinitePast();
};

}  // namespace switchboard::core::pg
