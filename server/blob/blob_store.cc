#include "server/blob/blob_store.h"

#include <algorithm>

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

bool BlobStore::HasAccount(absl::string_view account) const {
  auto a = accounts();
  return std::find(a.begin(), a.end(), account) != a.end();
}

}  // namespace switchboard::blob
