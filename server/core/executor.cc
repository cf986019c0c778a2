#include "server/core/executor.h"

#include <exception>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace switchboard::core {

namespace {
double Seconds(Pool::Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

Pool::Pool(PoolOptions options) : options_(std::move(options)) {
  threads_.reserve(static_cast<size_t>(options_.threads));
  const std::string name = absl::StrCat("sb-", options_.name);
  for (int i = 0; i < options_.threads; ++i) threads_.push_back(NamedThread(name, [this] { Loop(); }));
}

Pool::~Pool() { Stop(); }

bool Pool::Post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_ && queue_.size() < static_cast<size_t>(options_.queue_limit)) {
      queue_.push_back({std::move(task), Clock::now()});
      cv_.notify_one();
      return true;
    }
    ++rejected_;
  }
  return false;  // `task` is destroyed here, outside the lock
}

int64_t Pool::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(queue_.size());
}

bool Pool::PostAdmitted(Task task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (joined_) return false;
  queue_.push_back({std::move(task), Clock::now()});
  cv_.notify_one();
  return true;
}

Pool::TimerId Pool::RunAt(Clock::time_point when, Task task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || timers_.size() >= static_cast<size_t>(options_.queue_limit)) {
    ++rejected_;
    return 0;
  }
  const TimerId id = next_timer_++;
  const bool earliest = timers_.empty() || when < timers_.begin()->first.first;
  timers_.emplace(std::make_pair(when, id), std::move(task));
  timer_due_.emplace(id, when);
  // Threads waiting for a later timer (or for work) must wait less now.
  if (earliest) cv_.notify_all();
  return id;
}

bool Pool::Cancel(TimerId id) {
  Task dropped;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  auto due = timer_due_.find(id);
  if (due == timer_due_.end()) return false;
  auto it = timers_.find({due->second, id});
  dropped = std::move(it->second);
  timers_.erase(it);
  timer_due_.erase(due);
  return true;
}

void Pool::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  std::map<std::pair<Clock::time_point, TimerId>, Task> cancelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (joined_) return;
    stopping_ = true;
    cancelled.swap(timers_);
    timer_due_.clear();
    cv_.notify_all();
  }
  cancelled.clear();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  joined_ = true;
}

void Pool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const Clock::time_point now = Clock::now();
    while (!timers_.empty() && timers_.begin()->first.first <= now) {
      auto node = timers_.extract(timers_.begin());
      timer_due_.erase(node.key().second);
      // Latency counts from the due time.
      queue_.push_back({std::move(node.mapped()), node.key().first});
    }
    if (!queue_.empty()) {
      Queued q = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
      lock.unlock();
      const Clock::time_point start = Clock::now();
      try {
        q.task();
      } catch (const std::exception& e) {
        log::Error("task threw; the pool carries on", {{"pool", options_.name}, {"error", e.what()}});
      } catch (...) {
        log::Error("task threw; the pool carries on", {{"pool", options_.name}});
      }
      q.task = nullptr;  // its captures go before the task counts as done
      const Clock::time_point end = Clock::now();
      lock.lock();
      --busy_;
      ++tasks_;
      queue_wait_seconds_ += Seconds(start - q.since);
      run_seconds_ += Seconds(end - start);
      continue;
    }
    if (stopping_) return;  // drained (timers were dropped by Stop)
    if (timers_.empty()) {
      cv_.wait(lock);
    } else {
      // A copy: wait_until reads its deadline again as it wakes, when
      // another thread may have run or cancelled that timer, freeing the
      // key a reference would point into (AddressSanitizer, 2026-12-04).
      const Clock::time_point due = timers_.begin()->first.first;
      cv_.wait_until(lock, due);
    }
  }
}

Pool::Stats Pool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  s.name = options_.name;
  s.threads = options_.threads;
  s.queue_depth = static_cast<int64_t>(queue_.size());
  s.busy = busy_;
  s.timers = static_cast<int64_t>(timers_.size());
  s.tasks = tasks_;
  s.rejected = rejected_;
  s.queue_wait_seconds = queue_wait_seconds_;
  s.run_seconds = run_seconds_;
  return s;
}

// ---- Strand ----

struct Strand::State {
  Pool* pool;
  size_t limit;
  mutable std::mutex mu;
  std::deque<Pool::Task> tasks;  // the front one is running while `scheduled`
  bool scheduled = false;
};

Strand::Strand(Pool* pool, int queue_limit) : state_(std::make_shared<State>()) {
  state_->pool = pool;
  state_->limit = static_cast<size_t>(queue_limit > 0 ? queue_limit : pool->options_.queue_limit);
}

Pool* Strand::pool() const { return state_->pool; }

size_t Strand::pending() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->tasks.size();
}

bool Strand::Post(Pool::Task task) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->tasks.size() >= state_->limit) return false;
  if (!state_->scheduled) {
    // Lock order: strand, then pool (the pool never calls a strand back).
    if (!state_->pool->Post([s = state_] { Drain(s); })) return false;
    state_->scheduled = true;
  } else {
    // Refused like the pool would: a stopping pool takes nothing new.
    std::lock_guard<std::mutex> pool_lock(state_->pool->mu_);
    if (state_->pool->stopping_) {
      ++state_->pool->rejected_;
      return false;
    }
  }
  state_->tasks.push_back(std::move(task));
  return true;
}

void Strand::Drain(const std::shared_ptr<State>& s) {
  Pool::Task task;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    task = std::move(s->tasks.front());
  }
  task();
  task = nullptr;
  std::lock_guard<std::mutex> lock(s->mu);
  s->tasks.pop_front();
  if (s->tasks.empty()) {
    s->scheduled = false;
    return;
  }
  // One task per turn, so that strands sharing a pool take turns. We run on
  // one of the pool's threads, so the pool is there to take it.
  s->pool->PostAdmitted([s] { Drain(s); });
}

// ---- Executor ----

Executor::~Executor() { Stop(); }

absl::StatusOr<Pool*> Executor::AddPool(PoolOptions options) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return absl::FailedPreconditionError(absl::StrCat("pool ", options.name, ": the executor is stopped"));
  if (options.name.empty()) return absl::InvalidArgumentError("pool name: must not be empty");
  if (options.threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("pools.", options.name, ".threads must be at least 1"));
  }
  if (options.queue_limit < 1) {
    return absl::InvalidArgumentError(absl::StrCat("pools.", options.name, ".queue_limit must be at least 1"));
  }
  for (const auto& p : pools_) {
    if (p->name() == options.name) {
      return absl::InvalidArgumentError(absl::StrCat("pool ", options.name, " exists already"));
    }
  }
  pools_.push_back(std::make_unique<Pool>(std::move(options)));
  return pools_.back().get();
}

Pool* Executor::pool(absl::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& p : pools_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

void Executor::Stop() {
  std::vector<Pool*> pools;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    for (const auto& p : pools_) pools.push_back(p.get());
  }
  for (auto it = pools.rbegin(); it != pools.rend(); ++it) (*it)->Stop();
}

std::vector<Pool::Stats> Executor::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Pool::Stats> out;
  for (const auto& p : pools_) out.push_back(p->stats());
  return out;
}

std::string Executor::RenderMetrics() const {
  const std::vector<Pool::Stats> all = stats();
  std::ostringstream out;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (const auto& s : all) out << name << "{pool=\"" << s.name << "\"} " << value(s) << "\n";
  };
  auto summary = [&](const char* name, const char* help, auto sum) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " summary\n";
    for (const auto& s : all) {
      out << name << "_sum{pool=\"" << s.name << "\"} " << sum(s) << "\n";
      out << name << "_count{pool=\"" << s.name << "\"} " << s.tasks << "\n";
    }
  };
  using S = Pool::Stats;
  family("switchboard_executor_queue_depth", "gauge", "Tasks waiting for a thread, by pool.",
         [](const S& s) { return s.queue_depth; });
  family("switchboard_executor_busy_threads", "gauge", "Threads running a task, by pool.",
         [](const S& s) { return s.busy; });
  family("switchboard_executor_threads", "gauge", "Threads of the pool.", [](const S& s) { return s.threads; });
  family("switchboard_executor_timers", "gauge", "Timers waiting to fire, by pool.",
         [](const S& s) { return s.timers; });
  family("switchboard_executor_tasks_total", "counter", "Tasks run, by pool.", [](const S& s) { return s.tasks; });
  family("switchboard_executor_rejected_total", "counter",
         "Tasks and timers refused (queue full, or stopping), by pool.", [](const S& s) { return s.rejected; });
  summary("switchboard_executor_queue_wait_seconds", "Time tasks waited for a thread (from due, for timers).",
          [](const S& s) { return s.queue_wait_seconds; });
  summary("switchboard_executor_run_seconds", "Time tasks ran.", [](const S& s) { return s.run_seconds; });
  return out.str();
}

}  // namespace switchboard::core
