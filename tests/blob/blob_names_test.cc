#include <gtest/gtest.h>

#include "server/blob/blob_names.h"

namespace switchboard::blob {
namespace {

TEST(BlobNames, ContainerRules) {
  for (const std::string& ok : {std::string("abc"), std::string("a-b-c"), std::string("inbox1"), std::string(63, 'a')}) {
    EXPECT_TRUE(ValidateContainerName(ok, "containerName").ok()) << ok;
  }
  for (const char* bad : {"ab", "-abc", "abc-", "a--b", "ABC", "a_b", "a.b", ""}) {
    auto s = ValidateContainerName(bad, "containerName");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("containerName"), std::string::npos);
  }
  EXPECT_FALSE(ValidateContainerName(std::string(64, 'a'), "c").ok());
}

TEST(BlobNames, BlobNameRules) {
  EXPECT_TRUE(ValidateBlobName("a/b/c.mp4", "blobUri").ok());
  EXPECT_TRUE(ValidateBlobName("with space é", "blobUri").ok());
  for (const char* bad : {"", "a//b", "/a", "a/", "a/../b", "..", "./a", "a\\b"}) {
    auto s = ValidateBlobName(bad, "blobUri");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("blobUri"), std::string::npos);
  }
  EXPECT_FALSE(ValidateBlobName(std::string(1025, 'a'), "b").ok());
}

TEST(BlobNames, MetadataRules) {
  EXPECT_TRUE(ValidateMetadata({{"_a1", "x"}, {"Camel", "y y"}}, "blobMetadata").ok());
  for (const char* bad : {"1a", "a-b", "a b", "", "é"}) {
    auto s = ValidateMetadata({{bad, "v"}}, "blobMetadata");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("blobMetadata"), std::string::npos);
  }
  EXPECT_FALSE(ValidateMetadata({{"a", "line\nbreak"}}, "m").ok());
  EXPECT_TRUE(ValidateMetadata({{"a", std::string(8191, 'x')}}, "m").ok());
  EXPECT_FALSE(ValidateMetadata({{"a", std::string(8192, 'x')}}, "m").ok());
}

}  // namespace
}  // namespace switchboard::blob
