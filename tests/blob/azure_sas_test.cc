// Service SAS tokens: made and checked with Azure's string-to-sign.
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "common/azure/crypto.h"
#include "common/azure/sas.h"
#include "common/azure/shared_key.h"
#include "common/azure/url.h"

namespace switchboard::azure {
namespace {

const std::string kKey = absl::Base64Escape("0123456789abcdef0123456789abcdef");
const std::string kOtherKey = absl::Base64Escape("fedcba9876543210fedcba9876543210");

std::map<std::string, std::string> Make(absl::Time start, absl::Time expiry, const std::string& perms = "r") {
  BlobSasValues v;
  v.start = start;
  v.expiry = expiry;
  v.permissions = perms;
  auto q = CreateBlobSas("acct", "media", "dir/clip.mp4", kKey, v);
  EXPECT_TRUE(q.ok());
  return ParseQuery(*q);
}

TEST(AzureSas, ValidTokenVerifies) {
  auto now = absl::Now();
  auto q = Make(now - absl::Minutes(5), now + absl::Hours(1));
  EXPECT_EQ(q.at("sr"), "b");
  EXPECT_EQ(q.at("sp"), "r");
  EXPECT_TRUE(VerifyBlobSas(q, "acct", "media", "dir/clip.mp4", 'r', {kKey}, now).ok());
  // Either key of the account may have signed it.
  EXPECT_TRUE(VerifyBlobSas(q, "acct", "media", "dir/clip.mp4", 'r', {kOtherKey, kKey}, now).ok());
}

TEST(AzureSas, ExpiredNotYetValidTamperedWrongKeyWrongBlobWrongPermission) {
  auto now = absl::Now();
  auto q = Make(now - absl::Minutes(5), now + absl::Seconds(10));
  EXPECT_EQ(VerifyBlobSas(q, "acct", "media", "dir/clip.mp4", 'r', {kKey}, now + absl::Seconds(11)).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyBlobSas(q, "acct", "media", "dir/clip.mp4", 'r', {kKey}, now - absl::Minutes(6)).code(),
            absl::StatusCode::kPermissionDenied);
  auto tampered = q;
  tampered["sig"][3] = tampered["sig"][3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(VerifyBlobSas(tampered, "acct", "media", "dir/clip.mp4", 'r', {kKey}, now).code(),
            absl::StatusCode::kPermissionDenied);
  auto widened = q;
  widened["se"] = Iso8601(now + absl::Hours(100));
  EXPECT_EQ(VerifyBlobSas(widened, "acct", "media", "dir/clip.mp4", 'r', {kKey}, now).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyBlobSas(q, "acct", "media", "dir/clip.mp4", 'r', {kOtherKey}, now).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyBlobSas(q, "acct", "media", "other.mp4", 'r', {kKey}, now).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyBlobSas(q, "acct", "media", "dir/clip.mp4", 'w', {kKey}, now).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyBlobSas({}, "acct", "media", "dir/clip.mp4", 'r', {kKey}, now).code(),
            absl::StatusCode::kPermissionDenied);
}

// The example from Azure's documentation of the 2020-12-06 string-to-sign
// layout: fields joined by newlines, canonical resource /blob/acct/c/b.
TEST(AzureSas, StringToSignLayout) {
  std::map<std::string, std::string> p = {{"sp", "r"},  {"st", "2024-01-01T00:00:00Z"}, {"se", "2024-01-02T00:00:00Z"},
                                          {"sv", "2020-12-06"}, {"sr", "b"}};
  EXPECT_EQ(BlobSasStringToSign("acct", "c", "b/x", p),
            "r\n2024-01-01T00:00:00Z\n2024-01-02T00:00:00Z\n/blob/acct/c/b/x\n\n\n\n2020-12-06\nb\n\n\n\n\n\n\n");
}

TEST(AzureSharedKey, StringToSignLayout) {
  SignableRequest r;
  r.method = "PUT";
  r.path = "/acct/c/b";
  r.query = {{"comp", "metadata"}, {"Timeout", "30"}};
  r.headers = {{"x-ms-date", "Tue, 01 Aug 2023 10:00:00 GMT"}, {"X-MS-Version", "2021-12-02"},
               {"Content-Type", "text/plain"}};
  r.content_length = 0;
  EXPECT_EQ(SharedKeyStringToSign("acct", r),
            "PUT\n\n\n\n\ntext/plain\n\n\n\n\n\n\nx-ms-date:Tue, 01 Aug 2023 10:00:00 GMT\n"
            "x-ms-version:2021-12-02\n/acct/acct/c/b\ncomp:metadata\ntimeout:30");
  auto auth = SharedKeyAuthorization("acct", kKey, r);
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(auth->rfind("SharedKey acct:", 0), 0u);
  EXPECT_FALSE(SharedKeyAuthorization("acct", "not base64!", r).ok());
}

TEST(AzureUrl, EncodeDecodeRoundTrip) {
  EXPECT_EQ(PercentEncode("a b/c+d", true), "a%20b/c%2Bd");
  EXPECT_EQ(PercentDecode("a%20b%2Bc%zz"), "a b+c%zz");
  auto q = ParseQuery("sig=ab%2Bc%3D&sp=r&empty");
  EXPECT_EQ(q.at("sig"), "ab+c=");
  EXPECT_EQ(q.at("empty"), "");
  absl::Time t;
  ASSERT_TRUE(ParseIso8601("2024-03-04T05:06:07Z", &t));
  EXPECT_EQ(Iso8601(t), "2024-03-04T05:06:07Z");
  ASSERT_TRUE(ParseRfc1123(Rfc1123(t), &t));
  EXPECT_EQ(Iso8601(t), "2024-03-04T05:06:07Z");
}

}  // namespace
}  // namespace switchboard::azure
