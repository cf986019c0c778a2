#pragma once
// core::Executor: switchboardd's bounded, named thread pools, with timers.
// The Server (server/server.cc) creates one from the config's "pools"
// section and stops it in one place; engines post their work to a pool
// instead of running threads of their own.
//
// - Pool: a fixed set of threads over a bounded FIFO queue. Post refuses
//   (returns false) when the queue is full or the pool is stopping; the
//   caller answers RESOURCE_EXHAUSTED or UNAVAILABLE. RunAt/RunAfter queue a
//   task for later (the pool's own threads wait for the earliest timer, so a
//   timer costs no thread), Cancel drops it.
// - Strand: tasks posted to one strand run one at a time, in order, on its
//   pool's threads; an idle strand holds no thread. One strand per git
//   repository keeps its writes serialized without a thread waiting on a
//   lock.
// - Stop: refuses new tasks, cancels the timers (their tasks are destroyed,
//   not run), runs what is already queued (strands included), joins the
//   threads. Idempotent; the destructor calls it. The Executor stops its
//   pools in reverse order of creation. Never call Stop from a task.
//
// Metrics (RenderMetrics, Prometheus text, one family per measure with a
// `pool` label): queue depth, busy threads, threads, timers, tasks run,
// tasks refused, and the task latency split into queue wait and run time.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::core {

struct PoolOptions {
  std::string name;
  int threads = 2;
  // Tasks waiting for a thread, at most; timers waiting to fire, at most.
  int queue_limit = 1024;
};

class Pool {
 public:
  using Task = std::function<void()>;
  using Clock = std::chrono::steady_clock;
  // 0 is never a timer.
  using TimerId = uint64_t;

  // Starts the threads.
  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const std::string& name() const { return options_.name; }
  int threads() const { return options_.threads; }
  int queue_limit() const { return options_.queue_limit; }
  // Tasks waiting for a thread now (not timers).
  int64_t queue_depth() const;

  // Queues `task`. False (and `task` is destroyed, not run) when the queue
  // holds queue_limit tasks or the pool is stopping.
  bool Post(Task task);
  // Queues `task` when `when` comes. 0 (not scheduled) when queue_limit
  // timers are waiting or the pool is stopping. A due timer's task joins the
  // queue even when it is full: it was admitted when scheduled.
  TimerId RunAt(Clock::time_point when, Task task);
  TimerId RunAfter(Clock::duration delay, Task task) { return RunAt(Clock::now() + delay, std::move(task)); }
  // True when the timer had not fired: its task will not run.
  bool Cancel(TimerId id);

  // See the file comment. Must not be called from one of this pool's tasks.
  void Stop();

  struct Stats {
    std::string name;
    int threads = 0;
    int64_t queue_depth = 0;
    int64_t busy = 0;
    int64_t timers = 0;
    uint64_t tasks = 0;     // run to the end
    uint64_t rejected = 0;  // Post or RunAt refused
    // Summed over `tasks`: from queued (or due) to started, and running.
    double queue_wait_seconds = 0;
    double run_seconds = 0;
  };
  Stats stats() const;

 private:
  friend class Strand;
  struct Queued {
    Task task;
    Clock::time_point since;
  };
  // A continuation of already admitted work (a strand's next task): not
  // bounded, and taken while stopping (the pool drains it). False only once
  // the threads are gone.
  bool PostAdmitted(Task task);
  void Loop();

  const PoolOptions options_;
  // Held through Stop, so that two callers do not join the same threads.
  std::mutex stop_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  // By due time, then id (so equal times fire in the order scheduled).
  std::map<std::pair<Clock::time_point, TimerId>, Task> timers_;
  std::map<TimerId, Clock::time_point> timer_due_;
  TimerId next_timer_ = 1;
  bool stopping_ = false;
  bool joined_ = false;
  int64_t busy_ = 0;
  uint64_t tasks_ = 0;
  uint64_t rejected_ = 0;
  double queue_wait_seconds_ = 0;
  double run_seconds_ = 0;
  std::vector<std::thread> threads_;
};

// Serial execution on a pool: tasks run one at a time, in the order posted,
// each on whichever pool thread is free. Copies share one queue. Safe to
// destroy while tasks are queued (they still run).
class Strand {
 public:
  // `queue_limit` bounds the strand's own queue (0: the pool's limit).
  explicit Strand(Pool* pool, int queue_limit = 0);

  // False (and `task` is destroyed, not run) when the strand's queue is full
  // or the pool refuses (stopping, or its queue is full).
  bool Post(Pool::Task task);
  // Tasks queued or running.
  size_t pending() const;
  Pool* pool() const;

 private:
  struct State;
  static void Drain(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

class Executor {
 public:
  Executor() = default;
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Creates and starts a pool. INVALID_ARGUMENT naming the pool for a
  // repeated name, or threads/queue_limit below 1; FAILED_PRECONDITION once
  // stopped.
  absl::StatusOr<Pool*> AddPool(PoolOptions options);
  // The pool of that name, or nullptr.
  Pool* pool(absl::string_view name) const;

  // Stops every pool, the last created first. Idempotent.
  void Stop();

  std::vector<Pool::Stats> stats() const;
  // The metric families of every pool, Prometheus text format.
  std::string RenderMetrics() const;

 private:
  mutable std::mutex mu_;
  bool stopped_ = false;
  std::vector<std::unique_ptr<Pool>> pools_;
};

}  // namespace switchboard::core
