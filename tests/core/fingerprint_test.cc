// The idempotency fingerprint: the same request gives the same bytes and
// hash whatever order its map entries were added in, the bytes parse back
// to the request, and the hash is SHA-256 in lowercase hex.

#include "server/core/fingerprint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "switchboard/v1/media.pb.h"

namespace switchboard::core {
namespace {

v1::SetBlobMetadataRequest Request(bool reversed) {
  v1::SetBlobMetadataRequest r;
  r.set_request_id("id-1");
  r.set_blob_uri("https://acct.blob.core.windows.net/c/b.mp4");
  std::vector<std::pair<std::string, std::string>> entries;
  for (int i = 0; i < 20; ++i) entries.push_back({"key" + std::to_string(i), "value" + std::to_string(i)});
  if (reversed) std::reverse(entries.begin(), entries.end());
  for (const auto& [k, v] : entries) (*r.mutable_blob_metadata())[k] = v;
  return r;
}

TEST(Fingerprint, MapOrderDoesNotMatterAndTheBytesParseBack) {
  std::string a = DeterministicBytes(Request(false));
  std::string b = DeterministicBytes(Request(true));
  EXPECT_EQ(a, b);
  // What the bytes must be: the fields in number order, the map's entries
  // sorted by key. A message holding one field serializes to exactly that
  // field's bytes, so the expectation is built from such messages.
  std::string expected;
  v1::SetBlobMetadataRequest one;
  one.set_request_id("id-1");
  expected += one.SerializeAsString();
  one.Clear();
  one.set_blob_uri("https://acct.blob.core.windows.net/c/b.mp4");
  expected += one.SerializeAsString();
  const v1::SetBlobMetadataRequest r = Request(true);
  std::map<std::string, std::string> sorted(r.blob_metadata().begin(), r.blob_metadata().end());
  for (const auto& [k, v] : sorted) {
    one.Clear();
    (*one.mutable_blob_metadata())[k] = v;
    expected += one.SerializeAsString();
  }
  EXPECT_EQ(a, expected);
  v1::SetBlobMetadataRequest back;
  ASSERT_TRUE(back.ParseFromString(a));
  EXPECT_EQ(back.blob_metadata().size(), 20u);
  EXPECT_EQ(back.blob_metadata().at("key7"), "value7");
  EXPECT_EQ(back.request_id(), "id-1");
  EXPECT_EQ(Fingerprint(Request(false)), Fingerprint(Request(true)));
}

TEST(Fingerprint, OtherContentIsAnotherFingerprint) {
  v1::SetBlobMetadataRequest r = Request(false);
  std::string before = Fingerprint(r);
  (*r.mutable_blob_metadata())["key3"] = "changed";
  EXPECT_NE(Fingerprint(r), before);
  EXPECT_EQ(before.size(), 64u);
}

TEST(Fingerprint, IsSha256InLowercaseHex) {
  EXPECT_EQ(FingerprintOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Fingerprint(v1::SetBlobMetadataRequest()), FingerprintOf(""));  // an empty message is no bytes
  EXPECT_EQ(FingerprintOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace switchboard::core
