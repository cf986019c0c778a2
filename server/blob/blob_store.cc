#include "server/blob/blob_store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"

namespace switchboard::blob {

const char* TierName(Tier t) {
  switch (t) {
    case Tier::kHot: return "Hot";
    case Tier::kCool: return "Cool";
    case Tier::kCold: return "Cold";
    case Tier::kArchive: return "Archive";
  }
  return "Hot";
}

std::optional<Tier> ParseTier(absl::string_view s) {
  if (s == "Hot") return Tier::kHot;
  if (s == "Cool") return Tier::kCool;
  if (s == "Cold") return Tier::kCold;
  if (s == "Archive") return Tier::kArchive;
  return std::nullopt;
}

const char* AccessName(Access a) {
  switch (a) {
    case Access::kPrivate: return "None";
    case Access::kBlob: return "Blob";
    case Access::kContainer: return "BlobContainer";
  }
  return "None";
}

void BlobStore::SetMetadataAsync(const BlobRef& ref, const Metadata& metadata, const std::string& client_request_id,
                                 PropertiesCallback done) {
  absl::Status s = SetMetadata(ref, metadata, client_request_id);
  if (!s.ok()) return done(s);
  done(GetProperties(ref));
}

std::optional<Access> ParseAccess(absl::string_view s) {
  if (s == "None" || s == "Private") return Access::kPrivate;
  if (s == "Blob") return Access::kBlob;
  if (s == "BlobContainer" || s == "Container") return Access::kContainer;
  return std::nullopt;
}

namespace {
constexpr char kAzureCodeUrl[] = "type.switchboard/azure-error-code";
}  // namespace

absl::Status WithAzureCode(absl::Status status, absl::string_view code) {
  status.SetPayload(kAzureCodeUrl, absl::Cord(code));
  return status;
}

std::string AzureCode(const absl::Status& status) {
  auto p = status.GetPayload(kAzureCodeUrl);
  return p ? std::string(*p) : std::string();
}

Md5Stream::Md5Stream() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_md5(), nullptr);
}

Md5Stream::~Md5Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Md5Stream::Update(absl::string_view piece) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), piece.data(), piece.size());
}

std::string Md5Stream::FinishBase64() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &n);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), n));
}

uint64_t Crc64Update(uint64_t crc, absl::string_view piece) {
  static const std::array<uint64_t, 256> table = [] {
    std::array<uint64_t, 256> t{};
    for (uint64_t i = 0; i < 256; ++i) {
      uint64_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x9A6C9329AC4BC9B5ULL : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (unsigned char b : piece) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string Crc64Base64(uint64_t crc) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return absl::Base64Escape(absl::string_view(bytes, 8));
}

bool BlobStore::HasAccount(absl::string_view account) const {
  auto a = accounts();
  return std::find(a.begin(), a.end(), account) != a.end();
}

}  // namespace switchboard::blob
