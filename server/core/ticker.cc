#include "server/core/ticker.h"

#include <algorithm>
#include <memory>
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
  Pool::TimerId id = pool_->RunAfter(absl::ToChronoNanoseconds(delay), [pending, seq] { pending->self->Run(seq); });
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
    cv_.notify_all();
  }
  Schedule(period_);
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
