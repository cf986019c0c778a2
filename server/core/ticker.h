#pragma once
// core::Ticker: a periodic task on a core::Pool's timers, in place of a
// thread that sleeps in a loop. `fn` runs on a pool thread, then again
// `period` after it returned, until Stop. RunBy brings the next run
// forward, for work that comes due before the period is over (a lease that
// lapses, a retry time). Stop cancels the next run, waits for one in
// progress, and `fn` is never called after it returns, so an owner may
// destroy what `fn` uses right after Stop.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/time/time.h"
#include "server/core/executor.h"

namespace switchboard::core {

class Ticker {
 public:
  Ticker(Pool* pool, absl::Duration period, std::function<void()> fn);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // The first run comes after `first`. Once only.
  void Start(absl::Duration first = absl::ZeroDuration());
  // The next run comes at most `delay` from now; a run in progress is
  // followed by one then (or `period` after it, if that is sooner). Runs
  // never overlap. Nothing before Start or after Stop. May be called from
  // `fn`.
  void RunBy(absl::Duration delay);
  // Idempotent; never call it from `fn`.
  void Stop();

 private:
  using Clock = Pool::Clock;
  void Schedule(absl::Duration delay);
  // The run of the timer that Schedule numbered `seq`.
  void Run(uint64_t seq);

  Pool* pool_;
  const absl::Duration period_;
  std::function<void()> fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool running_ = false;
  // Runs scheduled or queued: a count, since a run schedules the next before
  // its own task is gone.
  int pending_ = 0;
  Pool::TimerId timer_ = 0;
  // When timer_ fires, and the schedule it was numbered.
  Clock::time_point due_;
  uint64_t timer_seq_ = 0;
  // A run asked for (RunBy) while one was running or about to: the run
  // schedules its next for then, if that is sooner than the period.
  bool soon_set_ = false;
  Clock::time_point soon_;
  // Schedules so far, and the newest whose timer fired: a Schedule records
  // its timer in timer_ only if it has not fired yet (else the next one's
  // is there, or will be).
  uint64_t scheduled_ = 0;
  uint64_t fired_ = 0;
};

}  // namespace switchboard::core
