// OpRecorder never makes its caller wait (issue 21: no reaction blocks):
// records beyond kMaxRecordsInFlight wait in the recorder, in order, and go
// to the store as earlier ones become durable; a store that refuses them at
// once (closing) ends them all without recursing once per waiting record;
// ReportedStorage answers through `done`.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/core/store.h"
#include "server/media/op_recorder.h"

namespace switchboard::media {
namespace {

// Holds every commit until the test lets it through (then the real store
// commits it), or refuses it at once (a closing store).
class HoldingStore final : public core::Store {
 public:
  explicit HoldingStore(std::unique_ptr<core::Store> inner) : inner_(std::move(inner)) {}

  void CommitAsync(core::Mutation m, CommitCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!refusing_) {
        order_.push_back(m.events.empty() ? std::string() : m.events.front().resource);
        held_.push_back({std::move(m), std::move(done)});
        return;
      }
    }
    done(absl::UnavailableError("store is shutting down"));
  }
  // Lets every held commit through to the real store; returns how many.
  size_t ReleaseHeld() {
    std::vector<Held> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& h : held) inner_->CommitAsync(std::move(h.m), std::move(h.done));
    return held.size();
  }
  // Answers every held commit (and every later one) UNAVAILABLE at once.
  void RefuseAll() {
    std::vector<Held> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      refusing_ = true;
      held.swap(held_);
    }
    for (auto& h : held) h.done(absl::UnavailableError("store is shutting down"));
  }
  size_t held() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  std::vector<std::string> order() const {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }

  absl::StatusOr<std::optional<std::string>> GetResource(absl::string_view kind, absl::string_view name) override {
    return inner_->GetResource(kind, name);
  }
  absl::StatusOr<core::ResourcePage> ListResources(absl::string_view kind, absl::string_view after,
                                                   int limit) override {
    return inner_->ListResources(kind, after, limit);
  }
  absl::StatusOr<core::EventBatch> ReadEvents(int64_t after, int limit, absl::string_view service) override {
    return inner_->ReadEvents(after, limit, service);
  }
  int64_t HeadSequence() const override { return inner_->HeadSequence(); }
  Stats stats() const override { return inner_->stats(); }
  core::JobQueue& jobs() override { return inner_->jobs(); }
  void SetCommitListener(CommitListener listener) override { inner_->SetCommitListener(std::move(listener)); }
  void Close() override { inner_->Close(); }

 private:
  struct Held {
    core::Mutation m;
    CommitCallback done;
  };
  mutable std::mutex mu_;
  bool refusing_ = false;
  std::vector<Held> held_;
  std::vector<std::string> order_;  // the first event's resource of each commit, as submitted
  std::unique_ptr<core::Store> inner_;
};

class OpRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "op_recorder_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto inner = core::OpenSqliteStore({dir_ + "/db", 1024, 2});
    ASSERT_TRUE(inner.ok()) << inner.status();
    store_ = std::make_unique<HoldingStore>(std::move(*inner));
    recorder_ = std::make_unique<OpRecorder>(store_.get());
  }
  void TearDown() override {
    recorder_.reset();
    if (store_) store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static v1::Operation Op(int i) {
    v1::Operation op;
    op.set_name("operations/" + std::to_string(100000 + i));
    op.set_type(v1::SET_BLOB_METADATA);
    op.set_state(v1::Operation::SUCCEEDED);
    return op;
  }

  // Calls Record n times on another thread, each with a `succeeded` event;
  // fails the test if those calls do not all return within 10 s (a caller
  // waiting for room in the store).
  void RecordMany(int n) {
    std::mutex mu;
    std::condition_variable cv;
    bool returned = false;
    std::thread caller([&] {
      for (int i = 0; i < n; ++i) {
        v1::MediaEvent e;
        *e.mutable_succeeded() = Op(i);
        recorder_->Record(Op(i), std::move(e), [this](absl::StatusOr<v1::Operation> r) {
          std::lock_guard<std::mutex> lock(done_mu_);
          (r.ok() ? ok_ : failed_)++;
          done_cv_.notify_all();
        });
      }
      std::lock_guard<std::mutex> lock(mu);
      returned = true;
      cv.notify_all();
    });
    {
      std::unique_lock<std::mutex> lock(mu);
      const bool in_time = cv.wait_for(lock, std::chrono::seconds(10), [&] { return returned; });
      EXPECT_TRUE(in_time) << "Record waited for room in the store's queue";
      if (!in_time) {
        lock.unlock();
        store_->RefuseAll();  // lets the caller go, so the thread can be joined
      }
    }
    caller.join();
  }

  bool WaitForDone(int n) {
    std::unique_lock<std::mutex> lock(done_mu_);
    return done_cv_.wait_for(lock, std::chrono::seconds(30), [&] { return ok_ + failed_ >= n; });
  }

  std::string dir_;
  std::unique_ptr<HoldingStore> store_;
  std::unique_ptr<OpRecorder> recorder_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  int ok_ = 0;
  int failed_ = 0;
};

TEST_F(OpRecorderTest, RecordsBeyondTheLimitWaitInTheRecorderNotInTheCaller) {
  constexpr int kExtra = 5;
  const int n = OpRecorder::kMaxRecordsInFlight + kExtra;
  RecordMany(n);
  // The store's queue holds the limit; the rest wait in the recorder.
  EXPECT_EQ(store_->held(), static_cast<size_t>(OpRecorder::kMaxRecordsInFlight));
  EXPECT_EQ(recorder_->waiting(), static_cast<size_t>(kExtra));

  // As the held ones become durable, the waiting ones take their places.
  EXPECT_EQ(store_->ReleaseHeld(), static_cast<size_t>(OpRecorder::kMaxRecordsInFlight));
  for (int i = 0; i < 100 && store_->held() < static_cast<size_t>(kExtra); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(recorder_->waiting(), 0u);
  EXPECT_EQ(store_->ReleaseHeld(), static_cast<size_t>(kExtra));
  ASSERT_TRUE(WaitForDone(n));
  EXPECT_EQ(ok_, n);
  EXPECT_EQ(failed_, 0);

  // In the order recorded, the waiting ones included.
  std::vector<std::string> order = store_->order();
  ASSERT_EQ(order.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(order[i], Op(i).name()) << "commit " << i;
  auto last = recorder_->Get(Op(n - 1).name());
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->state(), v1::Operation::SUCCEEDED);
}

TEST_F(OpRecorderTest, AClosingStoreEndsEveryWaitingRecordWithoutRecursingPerRecord) {
  // Many more waiting than a stack could take one frame each for.
  const int n = OpRecorder::kMaxRecordsInFlight + 20000;
  RecordMany(n);
  EXPECT_EQ(recorder_->waiting(), 20000u);
  store_->RefuseAll();
  ASSERT_TRUE(WaitForDone(n));
  EXPECT_EQ(failed_, n);
  EXPECT_EQ(recorder_->waiting(), 0u);
  EXPECT_EQ(store_->held(), 0u);
}

TEST_F(OpRecorderTest, ReportedStorageAnswersThroughDoneOnceDurable) {
  v1::StorageEvent ev;
  ev.set_kind(v1::StorageEvent::BLOB_CREATED);
  ev.set_blob_uri("http://127.0.0.1/acct/c/b.mp4");
  std::mutex mu;
  std::condition_variable cv;
  std::vector<absl::StatusOr<bool>> answers;
  auto report = [&] {
    recorder_->ReportedStorage(ev, "report-1", [&](absl::StatusOr<bool> r) {
      std::lock_guard<std::mutex> lock(mu);
      answers.push_back(r);
      cv.notify_all();
    });
  };
  report();
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(answers.empty()) << "answered before the event was durable";
  }
  EXPECT_EQ(store_->held(), 1u);
  store_->ReleaseHeld();
  report();  // the same request_id again: a repeat
  store_->ReleaseHeld();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return answers.size() == 2; }));
  ASSERT_TRUE(answers[0].ok()) << answers[0].status();
  EXPECT_FALSE(*answers[0]);
  ASSERT_TRUE(answers[1].ok()) << answers[1].status();
  EXPECT_TRUE(*answers[1]) << "a repeat of the request_id is marked replayed";
}

}  // namespace
}  // namespace switchboard::media
