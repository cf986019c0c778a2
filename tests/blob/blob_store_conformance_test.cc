// One suite, every BlobStore: what the media engine relies on must behave
// the same on the local filesystem store and on Azure's REST API (Azurite).
#include <filesystem>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include <future>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/azure/crypto.h"
#include "tests/blob/blob_store_factory.h"

namespace switchboard::blob {
namespace {

std::string RandomText(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

ChunkSource FromString(const std::string& s, size_t step = 1000) {
  auto pos = std::make_shared<size_t>(0);
  return [&s, pos, step](char* buf, size_t cap) -> absl::StatusOr<size_t> {
    size_t n = std::min({cap, step, s.size() - *pos});
    std::memcpy(buf, s.data() + *pos, n);
    *pos += n;
    return n;
  };
}

class BlobStoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto made = testing::MakeStore(GetParam(), &dir_);
    ASSERT_TRUE(made.ok()) << made.status();
    store_ = std::move(*made);
    account_ = store_->accounts().front();
    // Unique per test so that runs against one Azurite do not collide.
    container_ = absl::StrCat("conf-", absl::BytesToHexString(azure::RandomBytes(6)));
    ASSERT_TRUE(store_->CreateContainer(account_, container_).ok());
  }
  void TearDown() override {
    if (store_) (void)store_->DeleteContainer(account_, container_);
  }
  BlobRef Ref(const std::string& name) { return BlobRef{account_, container_, name}; }
  absl::StatusOr<BlobProperties> Put(const std::string& name, const std::string& body, PutOptions o = {}) {
    return store_->PutBlob(Ref(name), static_cast<int64_t>(body.size()), FromString(body), o);
  }
  absl::StatusOr<std::string> ReadAll(const std::string& name, int64_t off = 0, int64_t len = -1) {
    std::string out;
    auto s = store_->Read(Ref(name), off, len, [&](absl::string_view p) {
      out.append(p.data(), p.size());
      return true;
    });
    if (!s.ok()) return s;
    return out;
  }

  testing::TempDirHolder dir_;
  std::unique_ptr<BlobStore> store_;
  std::string account_;
  std::string container_;
};

TEST_P(BlobStoreConformance, ContainerLifecycle) {
  auto exists = store_->ContainerExists(account_, container_);
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_TRUE(*exists);
  EXPECT_EQ(store_->CreateContainer(account_, container_).code(), absl::StatusCode::kAlreadyExists);
  std::string other = container_ + "-b";
  ASSERT_TRUE(store_->CreateContainer(account_, other).ok());
  ASSERT_TRUE(store_->DeleteContainer(account_, other).ok());
  auto gone = store_->ContainerExists(account_, other);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(*gone);
  EXPECT_EQ(store_->DeleteContainer(account_, other).code(), absl::StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, ContainerAccessRoundTrips) {
  auto a = store_->GetContainerAccess(account_, container_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, Access::kPrivate);
  for (Access want : {Access::kBlob, Access::kContainer, Access::kPrivate}) {
    ASSERT_TRUE(store_->SetContainerAccess(account_, container_, want).ok());
    auto got = store_->GetContainerAccess(account_, container_);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want) << AccessName(want);
  }
  EXPECT_EQ(store_->SetContainerAccess(account_, "no-such-container-x", Access::kBlob).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, PutReadRoundTripsBytesAndProperties) {
  std::string body = RandomText(300000, 7);
  PutOptions o;
  o.content_type = "video/mp4";
  o.metadata = {{"origin", "test"}, {"Camera_2", "b"}};
  auto put = Put("dir/sub/clip.mp4", body, o);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->size, 300000);
  auto props = store_->GetProperties(Ref("dir/sub/clip.mp4"));
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->size, 300000);
  EXPECT_EQ(props->content_type, "video/mp4");
  EXPECT_EQ(props->metadata.at("origin"), "test");
  EXPECT_EQ(props->metadata.at("Camera_2"), "b");
  EXPECT_FALSE(props->etag.empty());
  EXPECT_GT(props->last_modified_us, 0);
  EXPECT_EQ(props->tier, Tier::kHot);
  auto all = ReadAll("dir/sub/clip.mp4");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(*all == body);
}

TEST_P(BlobStoreConformance, RangedReadsReturnExactlyTheRange) {
  std::string body = RandomText(100000, 11);
  ASSERT_TRUE(Put("r.bin", body).ok());
  auto mid = ReadAll("r.bin", 12345, 999);
  ASSERT_TRUE(mid.ok()) << mid.status();
  EXPECT_TRUE(*mid == body.substr(12345, 999));
  auto tail = ReadAll("r.bin", 99990);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_TRUE(*tail == body.substr(99990));
}

TEST_P(BlobStoreConformance, EmptyBlobIsAllowed) {
  ASSERT_TRUE(Put("empty", "").ok());
  auto props = store_->GetProperties(Ref("empty"));
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->size, 0);
  auto all = ReadAll("empty");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
}

TEST_P(BlobStoreConformance, PutReplacesAndChangesEtag) {
  auto first = Put("x", "one");
  ASSERT_TRUE(first.ok());
  auto second = Put("x", "second body");
  ASSERT_TRUE(second.ok());
  EXPECT_NE(first->etag, second->etag);
  EXPECT_EQ(*ReadAll("x"), "second body");
}

TEST_P(BlobStoreConformance, ShortBodyLeavesNothingBehind) {
  std::string body = "only-twenty-bytes!!!";
  auto r = store_->PutBlob(Ref("short"), 1000, FromString(body), {});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(store_->GetProperties(Ref("short")).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, MissingThingsAreNotFound) {
  EXPECT_EQ(store_->GetProperties(Ref("nope")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadAll("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->SetMetadata(Ref("nope"), {{"a", "b"}}, "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteBlob(Ref("nope"), "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->SetTier(Ref("nope"), Tier::kCool, Rehydrate::kStandard).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->PutBlob(BlobRef{account_, "no-such-container-x", "a"}, 1, FromString("a"), {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, SetMetadataReplacesAll) {
  PutOptions o;
  o.metadata = {{"a", "1"}, {"b", "2"}};
  ASSERT_TRUE(Put("m", "body", o).ok());
  ASSERT_TRUE(store_->SetMetadata(Ref("m"), {{"c", "3"}}, "req-1").ok());
  auto props = store_->GetProperties(Ref("m"));
  ASSERT_TRUE(props.ok());
  EXPECT_EQ(props->metadata, (Metadata{{"c", "3"}}));
  EXPECT_EQ(*ReadAll("m"), "body");
}

TEST_P(BlobStoreConformance, SetMetadataAsyncAnswersWithTheBlobsProperties) {
  ASSERT_TRUE(Put("m", "body").ok());
  std::promise<absl::StatusOr<BlobProperties>> set, missing, invalid;
  store_->SetMetadataAsync(Ref("m"), {{"c", "3"}}, "req-1", [&](auto r) { set.set_value(std::move(r)); });
  store_->SetMetadataAsync(Ref("nope"), {{"c", "3"}}, "", [&](auto r) { missing.set_value(std::move(r)); });
  store_->SetMetadataAsync(Ref("m"), {{"1bad", "x"}}, "", [&](auto r) { invalid.set_value(std::move(r)); });
  auto props = set.get_future().get();
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->metadata, (Metadata{{"c", "3"}}));
  EXPECT_EQ(props->size, 4);
  EXPECT_EQ(props->etag, store_->GetProperties(Ref("m"))->etag);
  EXPECT_EQ(missing.get_future().get().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(invalid.get_future().get().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetProperties(Ref("m"))->metadata, (Metadata{{"c", "3"}}));
}

TEST_P(BlobStoreConformance, InvalidMetadataIsRejectedAndNothingChanges) {
  ASSERT_TRUE(Put("m", "body", PutOptions{"text/plain", {{"keep", "yes"}}, ""}).ok());
  EXPECT_EQ(store_->SetMetadata(Ref("m"), {{"1bad", "x"}}, "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SetMetadata(Ref("m"), {{"big", std::string(9000, 'x')}}, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetProperties(Ref("m"))->metadata, (Metadata{{"keep", "yes"}}));
}

TEST_P(BlobStoreConformance, DeleteRemoves) {
  ASSERT_TRUE(Put("d", "x").ok());
  ASSERT_TRUE(store_->DeleteBlob(Ref("d"), "").ok());
  EXPECT_EQ(store_->GetProperties(Ref("d")).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, CopyCopiesBytesAndMetadata) {
  std::string body = RandomText(70000, 3);
  ASSERT_TRUE(Put("src", body, PutOptions{"audio/wav", {{"k", "v"}}, ""}).ok());
  auto copied = store_->CopyBlob(Ref("src"), Ref("copies/dst"), "req-copy");
  ASSERT_TRUE(copied.ok()) << copied.status();
  auto props = store_->GetProperties(Ref("copies/dst"));
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->size, 70000);
  EXPECT_EQ(props->metadata.at("k"), "v");
  EXPECT_TRUE(*ReadAll("copies/dst") == body);
  EXPECT_EQ(store_->CopyBlob(Ref("missing"), Ref("d2"), "").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, ListIsSortedFilteredAndPaged) {
  for (const char* n : {"b/2", "a/1", "b/1", "c"}) ASSERT_TRUE(Put(n, n).ok());
  auto all = store_->ListBlobs(account_, container_, "", "", 100);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> names;
  for (const auto& b : all->blobs) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a/1", "b/1", "b/2", "c"}));
  EXPECT_TRUE(all->next_marker.empty());
  auto b = store_->ListBlobs(account_, container_, "b/", "", 100);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->blobs.size(), 2u);
  EXPECT_EQ(b->blobs[1].size, 3);
  auto page1 = store_->ListBlobs(account_, container_, "", "", 3);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->blobs.size(), 3u);
  ASSERT_FALSE(page1->next_marker.empty());
  auto page2 = store_->ListBlobs(account_, container_, "", page1->next_marker, 3);
  ASSERT_TRUE(page2.ok()) << page2.status();
  ASSERT_EQ(page2->blobs.size(), 1u);
  EXPECT_EQ(page2->blobs[0].name, "c");
  EXPECT_EQ(store_->ListBlobs(account_, "no-such-container-x", "", "", 10).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, ArchiveBlocksReadsUntilRehydrated) {
  ASSERT_TRUE(Put("t", "tiered").ok());
  ASSERT_TRUE(store_->SetTier(Ref("t"), Tier::kCool, Rehydrate::kStandard).ok());
  EXPECT_EQ(store_->GetProperties(Ref("t"))->tier, Tier::kCool);
  ASSERT_TRUE(store_->SetTier(Ref("t"), Tier::kArchive, Rehydrate::kStandard).ok());
  auto archived = store_->GetProperties(Ref("t"));
  ASSERT_TRUE(archived.ok());
  EXPECT_EQ(archived->tier, Tier::kArchive);
  auto read = ReadAll("t");
  EXPECT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition) << read.status();
  ASSERT_TRUE(store_->SetTier(Ref("t"), Tier::kHot, Rehydrate::kHigh).ok());
  auto during = store_->GetProperties(Ref("t"));
  ASSERT_TRUE(during.ok());
  // Rehydration takes time on every store (Azurite: accepted as it behaves).
  if (during->tier == Tier::kArchive) {
    EXPECT_TRUE(during->rehydrating);
  }
}

TEST_P(BlobStoreConformance, BadNamesAreInvalidArgument) {
  EXPECT_EQ(store_->PutBlob(Ref("a/../b"), 1, FromString("x"), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutBlob(Ref("a//b"), 1, FromString("x"), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateContainer(account_, "Bad_Name").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateContainer("nosuchaccount", "okname").code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(BlobStoreConformance, AccountKeyIsBase64) {
  auto k = store_->AccountKey(account_, "key1");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE(azure::SignBase64(*k, "x").ok());
  EXPECT_EQ(store_->AccountKey(account_, "key3").status().code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Stores, BlobStoreConformance, ::testing::ValuesIn(testing::StoreKinds()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace switchboard::blob
