// core::Leadership (server/core/leadership.h): one leader among replicas
// sharing a JobQueue, a term that grows with every change of leader, a fast
// hand-back on Stop, and a stalled leader that finds itself fenced off.
// Replicas here are Leadership objects with their own owner and pool on one
// store, as switchboardd processes on one database would be.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "server/core/executor.h"
#include "server/core/leadership.h"
#include "server/core/store.h"
#include "tests/core/store_impls.h"

namespace switchboard::core {
namespace {

// One replica: its own pool, and a record of every change it was told of.
struct Replica {
  explicit Replica(JobQueue* queue, const std::string& owner)
      : pool(PoolOptions{owner, 1, 64}),
        leadership(queue, &pool, {owner, absl::Milliseconds(400), absl::Milliseconds(50)},
                   [this](bool leading, int64_t term) {
                     std::lock_guard<std::mutex> lock(mu);
                     changes.emplace_back(leading, term);
                   }) {}
  std::vector<std::pair<bool, int64_t>> Changes() {
    std::lock_guard<std::mutex> lock(mu);
    return changes;
  }
  Pool pool;
  std::mutex mu;
  std::vector<std::pair<bool, int64_t>> changes;
  Leadership leadership;
};

template <typename F>
bool Eventually(F f, absl::Duration within = absl::Seconds(5)) {
  absl::Time end = absl::Now() + within;
  while (absl::Now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

// Run on each store: with PostgreSQL the second replica has a store of its
// own on the same database, as a second process would.
class LeadershipTest : public ::testing::TestWithParam<testing::StoreImpl> {
 protected:
  void SetUp() override {
    auto env = GetParam().make();
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = std::move(*env);
    auto a = env_->Open();
    ASSERT_TRUE(a.ok()) << a.status();
    store_ = std::move(*a);
    if (env_->replicas()) {
      auto b = env_->Open();
      ASSERT_TRUE(b.ok()) << b.status();
      other_ = std::move(*b);
    }
  }
  void TearDown() override {
    if (other_) other_->Close();
    if (store_) store_->Close();
  }
  // The queue a second replica sees.
  JobQueue& OtherQueue() { return other_ ? other_->jobs() : store_->jobs(); }

  std::unique_ptr<testing::StoreEnv> env_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Store> other_;
};

TEST_P(LeadershipTest, ExactlyOneReplicaLeadsAndAStopHandsOverAtOnceWithANewTerm) {
  Replica a(&store_->jobs(), "replica-a");
  Replica b(&OtherQueue(), "replica-b");
  a.leadership.Start();
  b.leadership.Start();
  ASSERT_TRUE(Eventually([&] { return a.leadership.leading() || b.leadership.leading(); }));
  // Several lease lengths later there is still exactly one, with term 1.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ASSERT_NE(a.leadership.leading(), b.leadership.leading());
  Replica& leader = a.leadership.leading() ? a : b;
  Replica& other = a.leadership.leading() ? b : a;
  EXPECT_EQ(leader.leadership.term(), 1);
  EXPECT_EQ(other.leadership.term(), 0);

  absl::Time stopped = absl::Now();
  leader.leadership.Stop();
  EXPECT_FALSE(leader.leadership.leading());
  ASSERT_TRUE(Eventually([&] { return other.leadership.leading(); }));
  // Handed back, not expired: well inside the 400 ms lease.
  EXPECT_LT(absl::Now() - stopped, absl::Milliseconds(350));
  EXPECT_EQ(other.leadership.term(), 2);
  EXPECT_EQ(leader.Changes(), (std::vector<std::pair<bool, int64_t>>{{true, 1}, {false, 1}}));
  EXPECT_EQ(other.Changes(), (std::vector<std::pair<bool, int64_t>>{{true, 2}}));
}

TEST_P(LeadershipTest, AStalledLeaderIsReplacedAndStepsDownWhenItWakes) {
  Replica a(&store_->jobs(), "replica-a");
  a.leadership.Start();
  ASSERT_TRUE(Eventually([&] { return a.leadership.leading(); }));
  Replica b(&OtherQueue(), "replica-b");
  b.leadership.Start();

  // Freeze a's only pool thread past its lease, as SIGSTOP would.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  ASSERT_TRUE(a.pool.Post([released] { released.wait(); }));
  ASSERT_TRUE(Eventually([&] { return b.leadership.leading(); }));
  EXPECT_EQ(b.leadership.term(), 2);
  // a still believes it leads: it has not been able to look.
  EXPECT_TRUE(a.leadership.leading());
  release.set_value();
  // Its next heartbeat is refused (the token moved on): it steps down, and
  // b keeps the lead.
  ASSERT_TRUE(Eventually([&] { return !a.leadership.leading(); }));
  EXPECT_EQ(a.Changes(), (std::vector<std::pair<bool, int64_t>>{{true, 1}, {false, 1}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_TRUE(b.leadership.leading());
  EXPECT_FALSE(a.leadership.leading());
  EXPECT_EQ(b.leadership.term(), 2);
}

TEST_P(LeadershipTest, ALoneReplicaLeadsAgainAfterARestart) {
  {
    Replica a(&store_->jobs(), "replica-a");
    a.leadership.Start();
    ASSERT_TRUE(Eventually([&] { return a.leadership.leading(); }));
    EXPECT_EQ(a.leadership.term(), 1);
  }
  Replica a2(&store_->jobs(), "replica-a2");
  a2.leadership.Start();
  ASSERT_TRUE(Eventually([&] { return a2.leadership.leading(); }));
  EXPECT_EQ(a2.leadership.term(), 2);
  // One leader job, however many starts: the key de-duplicates.
  auto count = store_->jobs().CountUnfinished(Leadership::kKind);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, LeadershipTest, ::testing::ValuesIn(testing::AllStoreImpls()), testing::ImplName);

}  // namespace
}  // namespace switchboard::core
