#include "server/core/ticker.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

namespace switchboard::core {

Ticker::Ticker(Pool* pool, absl::Duration period, std::function<void()> fn)
    : pool_(pool), period_(period), fn_(std::move(fn)) {}

Ticker::~Ticker() { Stop(); }

void Ticker::Start(absl::Duration first) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_ || stopping_) return;
    started_ = true;
  }
  Schedule(first);
}

void Ticker::Schedule(absl::Duration delay) {
  uint64_t seq = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    ++pending_;
    seq = ++scheduled_;
  }
  // Counts down when the task is gone, run or not: a stopping pool destroys
  // its timers unrun, and Stop must not wait for those.
  struct Pending {
    explicit Pending(Ticker* s) : self(s) {}
    Pending(const Pending&) = delete;
    Ticker* self;
    ~Pending() {
      std::lock_guard<std::mutex> lock(self->mu_);
      --self->pending_;
      self->cv_.notify_all();
    }
  };
  auto pending = std::make_shared<Pending>(this);
  const Clock::time_point due = Clock::now() + absl::ToChronoNanoseconds(std::max(delay, absl::ZeroDuration()));
  Pool::TimerId id = pool_->RunAt(due, [pending, seq] { pending->self->Run(seq); });
  bool cancel = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The timer may have fired (and scheduled the next) already: then its
    // id is stale and must not replace the next one's. And Stop may have
    // come since the check above, without this id to cancel.
    if (stopping_) {
      cancel = true;
    } else if (seq > fired_) {
      timer_ = id;
      timer_seq_ = seq;
      due_ = due;
    }
  }
  if (cancel && id != 0) pool_->Cancel(id);  // outside mu_: the dropped task's Pending takes it
}

void Ticker::Run(uint64_t seq) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fired_ = std::max(fired_, seq);
    if (stopping_) return;
    running_ = true;
    timer_ = 0;
  }
  fn_();
  absl::Duration next = period_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (soon_set_) {
      next = std::min(next, absl::FromChrono(soon_ - Clock::now()));
      soon_set_ = false;
    }
  }
  // Still running while the next is scheduled: a RunBy meanwhile leaves its
  // time in soon_, and brings that timer forward below.
  Schedule(next);
  std::optional<absl::Duration> sooner;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
    if (soon_set_) {
      sooner = absl::FromChrono(soon_ - Clock::now());
      soon_set_ = false;
    }
    cv_.notify_all();
  }
  if (sooner.has_value()) RunBy(*sooner);
}

void Ticker::RunBy(absl::Duration delay) {
  const Clock::time_point want = Clock::now() + absl::ToChronoNanoseconds(std::max(delay, absl::ZeroDuration()));
  for (;;) {
    Pool::TimerId cancel = 0;
    uint64_t cancel_seq = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!started_ || stopping_) return;
      // A run in progress, or one whose timer fired and waits for a thread:
      // it schedules the next itself.
      if (running_ || timer_ == 0 || fired_ >= timer_seq_) {
        if (!soon_set_ || want < soon_) soon_ = want;
        soon_set_ = true;
        return;
      }
      if (due_ <= want) return;
      cancel = timer_;
      cancel_seq = timer_seq_;
      timer_ = 0;
    }
    // Outside mu_: the dropped task's Pending takes it.
    if (pool_->Cancel(cancel)) return Schedule(absl::FromChrono(want - Clock::now()));
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    if (running_ || fired_ < cancel_seq) {
      // It fired and has not finished: its run schedules the next.
      if (!soon_set_ || want < soon_) soon_ = want;
      soon_set_ = true;
      return;
    }
    // It ran to the end meanwhile and scheduled the next: look again.
  }
}

void Ticker::Stop() {
  Pool::TimerId timer = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    timer = timer_;
    timer_ = 0;
  }
  if (timer != 0) pool_->Cancel(timer);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return pending_ == 0 && !running_; });
}

}  // namespace switchboard::core
