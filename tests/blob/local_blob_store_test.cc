// What only the local store has: its cached records and the writes behind
// them. Every check reads the files back through a second store opened on
// the same folder, which has nothing cached.
#include "server/blob/local_blob_store.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/blob/blob_store_factory.h"

namespace switchboard::blob {
namespace {

class LocalBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Open();
    ASSERT_TRUE(store_->CreateContainer(kAccount, "media").ok());
    ASSERT_TRUE(Put(*store_, "clip.mp4").ok());
  }
  std::unique_ptr<LocalBlobStore> Open() {
    LocalBlobStoreOptions o;
    o.root = dir_.path();
    auto s = LocalBlobStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static absl::StatusOr<BlobProperties> Put(LocalBlobStore& store, const std::string& name) {
    std::string body = "bytes of " + name;
    size_t pos = 0;
    return store.PutBlob(Ref(name), static_cast<int64_t>(body.size()),
                         [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
                           size_t n = std::min(cap, body.size() - pos);
                           std::memcpy(buf, body.data() + pos, n);
                           pos += n;
                           return n;
                         },
                         {});
  }
  static BlobRef Ref(const std::string& name) { return BlobRef{kAccount, "media", name}; }

  static constexpr const char* kAccount = "devstoreaccount1";
  testing::TempDirHolder dir_;
  std::unique_ptr<LocalBlobStore> store_;
};

TEST_F(LocalBlobStoreTest, AChangeIsInItsFileWhenTheCallReturns) {
  ASSERT_TRUE(store_->SetMetadata(Ref("clip.mp4"), {{"stage", "one"}}, "").ok());
  ASSERT_TRUE(store_->SetTier(Ref("clip.mp4"), Tier::kCool, Rehydrate::kStandard).ok());
  auto fresh = Open();
  auto props = fresh->GetProperties(Ref("clip.mp4"));
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->metadata, (Metadata{{"stage", "one"}}));
  EXPECT_EQ(props->tier, Tier::kCool);
  EXPECT_EQ(props->etag, store_->GetProperties(Ref("clip.mp4"))->etag);
}

TEST_F(LocalBlobStoreTest, ConcurrentChangesToOneBlobAllSucceedAndTheFileHoldsTheLast) {
  constexpr int kThreads = 16, kEach = 50;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!store_->SetMetadata(Ref("clip.mp4"), {{"writer", absl::StrCat(t, "-", i)}}, "").ok()) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  auto cached = store_->GetProperties(Ref("clip.mp4"));
  auto on_disk = Open()->GetProperties(Ref("clip.mp4"));
  ASSERT_TRUE(cached.ok() && on_disk.ok());
  EXPECT_EQ(on_disk->metadata, cached->metadata);
  EXPECT_EQ(on_disk->etag, cached->etag);
  // The last change of some writer: its final one.
  std::string last = cached->metadata.at("writer");
  EXPECT_EQ(last.substr(last.find('-')), absl::StrCat("-", kEach - 1));
}

TEST_F(LocalBlobStoreTest, AsyncChangesToOneBlobAreEachAnsweredOnceWithWhatWasWritten) {
  constexpr int kThreads = 8, kEach = 100;
  std::mutex mu;
  std::vector<int> answers(kThreads * kEach, 0);
  std::vector<std::string> seen(kThreads * kEach);
  std::atomic<int> pending{kThreads * kEach}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        int n = t * kEach + i;
        store_->SetMetadataAsync(Ref("clip.mp4"), {{"writer", absl::StrCat(n)}}, "",
                                 [&, n](absl::StatusOr<BlobProperties> props) {
                                   std::lock_guard<std::mutex> l(mu);
                                   ++answers[static_cast<size_t>(n)];
                                   if (props.ok()) seen[static_cast<size_t>(n)] = props->metadata.at("writer");
                                   else ++failed;
                                   --pending;
                                 });
      }
    });
  }
  for (auto& th : threads) th.join();
  while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(failed.load(), 0);
  for (int n = 0; n < kThreads * kEach; ++n) {
    EXPECT_EQ(answers[static_cast<size_t>(n)], 1) << n;
    // The properties written with this change: it, or one staged after it
    // by the same thread or another (never an older one of this thread).
    int got = std::stoi(seen[static_cast<size_t>(n)]);
    if (got / kEach == n / kEach) {
      EXPECT_GE(got, n) << n;
    }
  }
  auto cached = store_->GetProperties(Ref("clip.mp4"));
  auto on_disk = Open()->GetProperties(Ref("clip.mp4"));
  ASSERT_TRUE(cached.ok() && on_disk.ok());
  EXPECT_EQ(on_disk->metadata, cached->metadata);
  EXPECT_EQ(on_disk->etag, cached->etag);
}

TEST_F(LocalBlobStoreTest, AWriteThatFailsIsAnErrorAndTheFileKeepsItsLastGoodVersion) {
  ASSERT_TRUE(store_->SetMetadata(Ref("clip.mp4"), {{"stage", "one"}}, "").ok());
  // Files this process writes may hold 16 bytes for a moment (the record
  // is larger): its next write fails with EFBIG.
  struct rlimit was;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &was), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit tiny = was;
  tiny.rlim_cur = 16;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tiny), 0);
  absl::Status s = store_->SetMetadata(Ref("clip.mp4"), {{"stage", "two"}}, "");
  ::setrlimit(RLIMIT_FSIZE, &was);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  auto props = store_->GetProperties(Ref("clip.mp4"));
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->metadata, (Metadata{{"stage", "one"}}));
  ASSERT_TRUE(store_->SetMetadata(Ref("clip.mp4"), {{"stage", "three"}}, "").ok());
  EXPECT_EQ(Open()->GetProperties(Ref("clip.mp4"))->metadata, (Metadata{{"stage", "three"}}));
}

TEST_F(LocalBlobStoreTest, ChangesToManyBlobsLandInTheirOwnFiles) {
  constexpr int kBlobs = 40;
  for (int b = 0; b < kBlobs; ++b) ASSERT_TRUE(Put(*store_, absl::StrCat("b", b)).ok());
  std::vector<std::thread> threads;
  for (int b = 0; b < kBlobs; ++b) {
    threads.emplace_back([&, b] {
      EXPECT_TRUE(store_->SetMetadata(Ref(absl::StrCat("b", b)), {{"blob", absl::StrCat(b)}}, "").ok());
    });
  }
  for (auto& th : threads) th.join();
  auto fresh = Open();
  for (int b = 0; b < kBlobs; ++b) {
    auto props = fresh->GetProperties(Ref(absl::StrCat("b", b)));
    ASSERT_TRUE(props.ok()) << props.status();
    EXPECT_EQ(props->metadata, (Metadata{{"blob", absl::StrCat(b)}}));
  }
}

TEST_F(LocalBlobStoreTest, ADeletedBlobStaysDeletedWhileItsRecordIsBeingChanged) {
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) (void)store_->SetMetadata(Ref("clip.mp4"), {{"n", absl::StrCat(i)}}, "");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(store_->DeleteBlob(Ref("clip.mp4"), "").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  writer.join();
  EXPECT_TRUE(absl::IsNotFound(store_->GetProperties(Ref("clip.mp4")).status()));
  EXPECT_TRUE(absl::IsNotFound(Open()->GetProperties(Ref("clip.mp4")).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->SetMetadata(Ref("clip.mp4"), {{"n", "late"}}, "")));
}

TEST_F(LocalBlobStoreTest, ADeleteIsNotHeldOffByAStreamOfAsyncChangesToTheBlob) {
  // Changes keep arriving without waiting for their answers, so a write of
  // the record is always under way; the delete must still get its turn.
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, sent{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      while (!stop) {
        if (sent - answered > 200000) {
          std::this_thread::yield();
          continue;
        }
        ++sent;
        store_->SetMetadataAsync(Ref("clip.mp4"), {{"n", "x"}}, "", [&](auto) { ++answered; });
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::promise<absl::Status> deleted;
  std::thread deleter([&] { deleted.set_value(store_->DeleteBlob(Ref("clip.mp4"), "")); });
  auto result = deleted.get_future();
  // Generous: on an idle machine it takes well under a millisecond; a
  // delete that starves never finishes.
  bool finished = result.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  stop = true;
  for (auto& th : writers) th.join();
  deleter.join();
  ASSERT_TRUE(finished) << "DeleteBlob waited behind the stream of changes";
  EXPECT_TRUE(result.get().ok());
  while (answered.load() < sent.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(absl::IsNotFound(store_->GetProperties(Ref("clip.mp4")).status()));
  EXPECT_TRUE(absl::IsNotFound(Open()->GetProperties(Ref("clip.mp4")).status()));
}

TEST_F(LocalBlobStoreTest, AChangeMadeThroughAnotherStoreOnTheSameFolderIsSeenAtOnce) {
  ASSERT_TRUE(store_->SetMetadata(Ref("clip.mp4"), {{"by", "first"}}, "").ok());
  ASSERT_EQ(store_->GetProperties(Ref("clip.mp4"))->metadata, (Metadata{{"by", "first"}}));  // cached now
  auto second = Open();
  ASSERT_TRUE(second->SetMetadata(Ref("clip.mp4"), {{"by", "second"}}, "").ok());
  auto props = store_->GetProperties(Ref("clip.mp4"));
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->metadata, (Metadata{{"by", "second"}}));
  EXPECT_EQ(props->etag, second->GetProperties(Ref("clip.mp4"))->etag);
  ASSERT_TRUE(second->DeleteBlob(Ref("clip.mp4"), "").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->GetProperties(Ref("clip.mp4")).status()));
}

}  // namespace
}  // namespace switchboard::blob
