// core::Executor: a full queue refuses, timers fire in due order and can be
// cancelled, a strand never runs two tasks at once and keeps their order,
// Stop drains what is queued (pools in reverse order of creation) and joins,
// and the metrics count; the "pools" config keys name themselves in errors;
// a pool's threads carry its name; threads waiting for a timer survive its
// removal.

#include "server/core/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_name.h"
#include "server/core/config.h"
#include "server/core/ticker.h"

namespace switchboard::core {
namespace {

using namespace std::chrono_literals;

// A gate tasks wait at until the test opens it.
class Gate {
 public:
  void Wait() { opened_.wait(); }
  void Open() { promise_.set_value(); }

 private:
  std::promise<void> promise_;
  std::shared_future<void> opened_ = promise_.get_future().share();
};

bool WaitFor(const std::function<bool()>& probe) {
  for (int i = 0; i < 3000; ++i) {  // up to a minute on a loaded machine
    if (probe()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return probe();
}

// Blocks the pool's only thread until the gate opens; returns once it runs.
void Occupy(Pool& pool, Gate& gate) {
  std::promise<void> started;
  ASSERT_TRUE(pool.Post([&] {
    started.set_value();
    gate.Wait();
  }));
  started.get_future().wait();
}

TEST(Executor, FullQueueRefusesAndTheRefusedTaskNeverRuns) {
  Pool pool({"bounded", 1, 2});
  Gate gate;
  Occupy(pool, gate);
  std::atomic<int> ran{0};
  EXPECT_TRUE(pool.Post([&] { ran++; }));
  EXPECT_TRUE(pool.Post([&] { ran++; }));
  bool refused_ran = false;
  EXPECT_FALSE(pool.Post([&] { refused_ran = true; })) << "the queue holds queue_limit tasks";
  EXPECT_EQ(pool.stats().queue_depth, 2);
  EXPECT_EQ(pool.stats().busy, 1);
  EXPECT_EQ(pool.stats().rejected, 1u);
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return ran.load() == 2; }));
  EXPECT_TRUE(pool.Post([&] { ran++; })) << "room again once drained";
  pool.Stop();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(refused_ran);
}

TEST(Executor, TimersFireInDueOrderAndACancelledOneNever) {
  Pool pool({"timers", 1, 16});
  std::mutex mu;
  std::vector<std::string> order;
  auto note = [&](std::string what) {
    return [&, what] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(what);
    };
  };
  const auto base = Pool::Clock::now() + 1s;  // room to schedule and cancel first
  // Scheduled out of order; two share a due time (they keep the order they
  // were scheduled in).
  Pool::TimerId c = pool.RunAt(base + 60ms, note("c"));
  Pool::TimerId a = pool.RunAt(base, note("a"));
  Pool::TimerId x = pool.RunAt(base + 30ms, note("x"));
  Pool::TimerId b1 = pool.RunAt(base + 40ms, note("b1"));
  Pool::TimerId b2 = pool.RunAt(base + 40ms, note("b2"));
  for (auto id : {a, b1, b2, c, x}) EXPECT_NE(id, 0u);
  EXPECT_EQ(pool.stats().timers, 5);
  EXPECT_TRUE(pool.Cancel(x));
  EXPECT_FALSE(pool.Cancel(x)) << "cancelled once";
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return order.size() == 4;
  }));
  EXPECT_FALSE(pool.Cancel(c)) << "fired already";
  std::this_thread::sleep_for(100ms);  // x was due before c: it would have run by now
  pool.Stop();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b1", "b2", "c"}));
  EXPECT_EQ(pool.stats().timers, 0);
}

// Every idle thread of a pool waits for its earliest timer. When one of
// them runs that timer, or the test cancels it, the timer is gone before
// the others wake; they must not read its due time from it. A read of the
// freed timer has no visible effect in a normal build: this case fails
// under AddressSanitizer (tools/sanitize.sh asan), which found it.
TEST(Executor, ThreadsWaitingForATimerOutliveItsRunAndItsCancel) {
  Pool pool({"waiters", 4, 16});
  std::atomic<int> ran{0};
  for (int round = 0; round < 10; ++round) {
    Pool::TimerId cancelled = pool.RunAfter(100ms, [&] { ran += 100; });
    std::this_thread::sleep_for(20ms);  // the four threads wait for it
    ASSERT_TRUE(pool.Cancel(cancelled));
    pool.RunAfter(20ms, [&] { ran++; });
    ASSERT_TRUE(WaitFor([&] { return ran.load() == round + 1; }));
    std::this_thread::sleep_for(100ms);  // past the cancelled one's due time
  }
  pool.Stop();
  EXPECT_EQ(ran.load(), 10) << "a cancelled timer ran";
}

TEST(Executor, StrandRunsOneTaskAtATimeInOrderAndHoldsNoThreadWhenIdle) {
  Pool pool({"strands", 4, 4096});
  constexpr int kTasks = 300;
  struct Track {
    std::atomic<int> active{0};
    std::atomic<int> overlaps{0};
    std::vector<int> order;  // written by the strand's tasks only, one at a time
  };
  Track tracks[2];
  Strand strands[2] = {Strand(&pool), Strand(&pool)};
  std::atomic<int> done{0};
  for (int i = 0; i < kTasks; ++i) {
    for (int s = 0; s < 2; ++s) {
      Track& t = tracks[s];
      ASSERT_TRUE(strands[s].Post([&t, &done, i] {
        if (t.active.fetch_add(1) != 0) t.overlaps++;
        t.order.push_back(i);
        std::this_thread::yield();
        t.active.fetch_sub(1);
        done++;
      }));
    }
  }
  ASSERT_TRUE(WaitFor([&] { return done.load() == 2 * kTasks; }));
  for (const Track& t : tracks) {
    EXPECT_EQ(t.overlaps.load(), 0);
    ASSERT_EQ(t.order.size(), static_cast<size_t>(kTasks));
    for (int i = 0; i < kTasks; ++i) EXPECT_EQ(t.order[i], i);
  }
  ASSERT_TRUE(WaitFor([&] { return pool.stats().busy == 0; }));
  EXPECT_EQ(strands[0].pending(), 0u);
  EXPECT_EQ(pool.stats().queue_depth, 0) << "an idle strand leaves nothing on the pool";
  pool.Stop();
}

TEST(Executor, StrandWaitingOnItsTaskLeavesThePoolsOtherThreadsFree) {
  Pool pool({"hostage", 2, 64});
  Strand strand(&pool);
  Gate gate;
  std::promise<void> started;
  ASSERT_TRUE(strand.Post([&] {
    started.set_value();
    gate.Wait();
  }));
  started.get_future().wait();
  std::atomic<bool> second_ran{false};
  ASSERT_TRUE(strand.Post([&] { second_ran = true; }));  // queued behind the first, on no thread
  std::promise<void> other;
  ASSERT_TRUE(pool.Post([&] { other.set_value(); }));
  EXPECT_EQ(other.get_future().wait_for(60s), std::future_status::ready)
      << "the strand's second task does not occupy the other thread";
  EXPECT_FALSE(second_ran.load());
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return second_ran.load(); }));
  pool.Stop();
}

TEST(Executor, StopRefusesNewWorkDropsTimersDrainsTheQueueAndJoins) {
  Pool pool({"stopping", 1, 64});
  Strand strand(&pool);
  Gate gate;
  Occupy(pool, gate);
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.Post([&] { ran++; }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(strand.Post([&] { ran++; }));
  auto timer_capture = std::make_shared<int>(0);
  std::weak_ptr<int> timer_alive = timer_capture;
  bool timer_ran = false;
  ASSERT_NE(pool.RunAfter(1h, [&timer_ran, timer_capture] { timer_ran = true; }), 0u);
  timer_capture.reset();

  std::thread stopper([&] { pool.Stop(); });
  ASSERT_TRUE(WaitFor([&] { return !pool.Post([] {}); })) << "Stop refuses new tasks at once";
  EXPECT_FALSE(strand.Post([] {}));
  EXPECT_EQ(pool.RunAfter(1ms, [] {}), 0u);
  EXPECT_TRUE(timer_alive.expired()) << "the timer's task was dropped, not kept for later";
  gate.Open();
  stopper.join();
  EXPECT_EQ(ran.load(), 8) << "everything queued before Stop ran";
  EXPECT_FALSE(timer_ran);
  EXPECT_EQ(pool.stats().queue_depth, 0);
  EXPECT_EQ(pool.stats().busy, 0);
  pool.Stop();  // idempotent
}

TEST(Executor, PoolThreadsCarryThePoolsNameAndLinuxKeepsFifteenBytes) {
  Pool pool({"media", 1, 16});
  std::promise<std::string> name;
  ASSERT_TRUE(pool.Post([&] { name.set_value(ThreadName()); }));
  EXPECT_EQ(name.get_future().get(), "sb-media") << "top -H and perf show which pool a thread serves";
  Pool long_name({"resourcing-git-writes", 1, 16});
  std::promise<std::string> cut;
  ASSERT_TRUE(long_name.Post([&] { cut.set_value(ThreadName()); }));
  EXPECT_EQ(cut.get_future().get(), "sb-resourcing-g") << "cut to 15 bytes, not refused";
  pool.Stop();
  long_name.Stop();
}

TEST(Executor, StopsPoolsInReverseOrderOfCreation) {
  Executor executor;
  Pool* first = *executor.AddPool({"first", 1, 16});
  Pool* second = *executor.AddPool({"second", 1, 16});
  EXPECT_EQ(executor.pool("first"), first);
  EXPECT_EQ(executor.pool("none"), nullptr);
  EXPECT_FALSE(executor.AddPool({"first", 1, 16}).ok()) << "names are unique";
  EXPECT_FALSE(executor.AddPool({"zero", 0, 16}).ok());
  Gate gate;
  Occupy(*second, gate);
  // Queued on the second pool, it posts to the first: the first still takes
  // work while the second drains, because it stops after it.
  std::atomic<bool> handed_on{false}, ran_on_first{false};
  ASSERT_TRUE(second->Post([&] { handed_on = first->Post([&] { ran_on_first = true; }); }));
  std::thread stopper([&] { executor.Stop(); });
  ASSERT_TRUE(WaitFor([&] { return !second->Post([] {}); }));
  gate.Open();
  stopper.join();
  EXPECT_TRUE(handed_on.load());
  EXPECT_TRUE(ran_on_first.load());
  EXPECT_FALSE(first->Post([] {}));
  EXPECT_FALSE(executor.AddPool({"late", 1, 1}).ok());
  executor.Stop();  // idempotent; the destructor calls it again
}

TEST(Executor, MetricsCountTasksQueueDepthBusyThreadsAndLatency) {
  Executor executor;
  Pool* pool = *executor.AddPool({"m", 1, 64});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool->Post([] { std::this_thread::sleep_for(1ms); }));
  ASSERT_TRUE(WaitFor([&] { return pool->stats().tasks == 10; }));
  Gate gate;
  Occupy(*pool, gate);
  ASSERT_TRUE(pool->Post([] {}));
  ASSERT_TRUE(pool->Post([] {}));
  Pool::Stats s = pool->stats();
  EXPECT_EQ(s.tasks, 10u);
  EXPECT_EQ(s.busy, 1);
  EXPECT_EQ(s.queue_depth, 2);
  EXPECT_GT(s.run_seconds, 0.0) << "ten tasks of at least 1 ms each";
  EXPECT_GE(s.queue_wait_seconds, 0.0);
  const std::string text = executor.RenderMetrics();
  EXPECT_NE(text.find("switchboard_executor_tasks_total{pool=\"m\"} 10\n"), std::string::npos) << text;
  EXPECT_NE(text.find("switchboard_executor_queue_depth{pool=\"m\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("switchboard_executor_busy_threads{pool=\"m\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("switchboard_executor_run_seconds_count{pool=\"m\"} 10\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE switchboard_executor_queue_wait_seconds summary"), std::string::npos) << text;
  gate.Open();
  executor.Stop();
  EXPECT_EQ(pool->stats().tasks, 13u);
}

TEST(Executor, PoolsConfigKeysAreParsedAndErrorsNameTheKey) {
  ServerConfig c;
  ASSERT_TRUE(MergeConfigJson(R"({"pools": {"git": {"threads": 3}, "resourcing": {"queue_limit": 10}}})", &c).ok());
  EXPECT_EQ(c.pools["git"].threads, 3);
  EXPECT_EQ(c.pools["git"].queue_limit, DefaultPools()["git"].queue_limit) << "fields not given keep their default";
  EXPECT_EQ(c.pools["resourcing"].queue_limit, 10);
  EXPECT_TRUE(ValidateConfig(c).ok());

  struct Bad {
    const char* json;
    const char* says;
  };
  for (const Bad& b : {Bad{R"({"pools": 3})", "key 'pools' must be an object"},
                       Bad{R"({"pools": {"nope": {"threads": 1}}})", "key 'pools.nope': unknown pool; the pools are core, git, resourcing"},
                       Bad{R"({"pools": {"git": 2}})", "key 'pools.git' must be an object"},
                       Bad{R"({"pools": {"git": {"threads": "2"}}})", "key 'pools.git.threads' must be an integer"},
                       Bad{R"({"pools": {"git": {"size": 2}}})", "key 'pools.git.size': unknown"}}) {
    ServerConfig bad;
    absl::Status s = MergeConfigJson(b.json, &bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << b.json;
    EXPECT_NE(s.message().find(b.says), absl::string_view::npos) << b.json << " -> " << s.message();
  }
  ServerConfig zero;
  ASSERT_TRUE(MergeConfigJson(R"({"pools": {"resourcing": {"threads": 0}}})", &zero).ok());
  EXPECT_EQ(ValidateConfig(zero).message(), "pools.resourcing.threads is 0; it must be between 1 and 64");
  ServerConfig huge;
  ASSERT_TRUE(MergeConfigJson(R"({"pools": {"git": {"queue_limit": 0}}})", &huge).ok());
  EXPECT_EQ(ValidateConfig(huge).message(), "pools.git.queue_limit is 0; it must be between 1 and 1000000");
}

TEST(Ticker, RunsEveryPeriodOnThePoolAndNeverAfterStop) {
  Pool pool({"tick", 1, 16});
  std::atomic<int> runs{0};
  std::atomic<bool> stopped{false};
  std::atomic<bool> ran_after_stop{false};
  Ticker ticker(&pool, absl::Milliseconds(20), [&] {
    if (stopped.load()) ran_after_stop = true;
    runs.fetch_add(1);
  });
  ticker.Start();
  ASSERT_TRUE(WaitFor([&] { return runs.load() >= 5; }));
  ticker.Stop();
  stopped = true;
  const int at_stop = runs.load();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runs.load(), at_stop);
  EXPECT_FALSE(ran_after_stop.load());
  ticker.Stop();  // idempotent
}

TEST(Ticker, RunByBringsTheNextRunForwardAndRunsNeverOverlap) {
  Pool pool({"tick", 2, 16});
  std::atomic<int> runs{0};
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  Ticker ticker(&pool, absl::Hours(1), [&] {
    if (inside.fetch_add(1) > 0) overlapped = true;
    std::this_thread::sleep_for(5ms);
    runs.fetch_add(1);
    inside.fetch_sub(1);
  });
  ticker.RunBy(absl::ZeroDuration());  // before Start: nothing
  ticker.Start(absl::Hours(1));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runs.load(), 0);
  auto t0 = std::chrono::steady_clock::now();
  ticker.RunBy(absl::Milliseconds(30));
  ASSERT_TRUE(WaitFor([&] { return runs.load() >= 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 25ms);
  // A later time than the scheduled run changes nothing; an earlier one
  // asked for during a run comes right after it, never beside it.
  ticker.RunBy(absl::Hours(2));
  for (int i = 0; i < 20; ++i) {
    const int before = runs.load();
    ticker.RunBy(absl::ZeroDuration());
    ASSERT_TRUE(WaitFor([&] { return runs.load() > before; })) << "round " << i;
  }
  EXPECT_FALSE(overlapped.load());
  ticker.Stop();
  const int at_stop = runs.load();
  ticker.RunBy(absl::ZeroDuration());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runs.load(), at_stop);
}

TEST(Ticker, RunByFromInsideARunSchedulesTheNextSooner) {
  Pool pool({"tick", 1, 16});
  std::atomic<int> runs{0};
  Ticker* self = nullptr;
  Ticker ticker(&pool, absl::Hours(1), [&] {
    if (runs.fetch_add(1) < 3) self->RunBy(absl::Milliseconds(10));
  });
  self = &ticker;
  ticker.Start();
  ASSERT_TRUE(WaitFor([&] { return runs.load() >= 4; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runs.load(), 4) << "runs after the last RunBy should wait for the period";
  ticker.Stop();
}

TEST(Ticker, StopWaitsForARunInProgress) {
  Pool pool({"tick", 1, 16});
  std::atomic<bool> inside{false};
  std::atomic<bool> finished{false};
  Ticker ticker(&pool, absl::Seconds(10), [&] {
    inside = true;
    std::this_thread::sleep_for(200ms);
    finished = true;
  });
  ticker.Start();
  ASSERT_TRUE(WaitFor([&] { return inside.load(); }));
  ticker.Stop();
  EXPECT_TRUE(finished.load()) << "Stop returned while the run was still going";
}

TEST(Ticker, AStoppedPoolDropsTheNextRunAndStopDoesNotWaitForIt) {
  Pool pool({"tick", 1, 16});
  std::atomic<int> runs{0};
  Ticker ticker(&pool, absl::Hours(1), [&] { runs.fetch_add(1); });
  ticker.Start(absl::Hours(1));
  pool.Stop();
  auto t0 = std::chrono::steady_clock::now();
  ticker.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(runs.load(), 0);
}

// The first run can come, and schedule the next, before Start has
// recorded the first run's timer: Stop must still cancel the next one, not
// wait out its period (a 15 s stall of every SQLite server's Shutdown when
// the leader's first tick won that race).
TEST(Ticker, StopRightAfterAnImmediateFirstRunDoesNotWaitForTheNext) {
  Pool pool({"tick", 2, 16});
  for (int i = 0; i < 100; ++i) {
    std::atomic<int> runs{0};
    Ticker ticker(&pool, absl::Seconds(5), [&] { runs.fetch_add(1); });
    ticker.Start();
    ASSERT_TRUE(WaitFor([&] { return runs.load() >= 1; }));
    auto t0 = std::chrono::steady_clock::now();
    ticker.Stop();
    ASSERT_LT(std::chrono::steady_clock::now() - t0, 1s) << "Stop waited for the next run, at try " << i;
  }
}

}  // namespace
}  // namespace switchboard::core
