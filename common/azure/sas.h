#pragma once
// Azure Storage service SAS for blobs: create and verify, with Azure's
// string-to-sign, so tokens made here work against Azure and Azurite, and
// the local blob listener accepts tokens made by Azure's SDKs.
// https://learn.microsoft.com/rest/api/storageservices/create-service-sas

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::azure {

struct BlobSasValues {
  // Letters from "racwdl", in that order.
  std::string permissions = "r";
  absl::Time start = absl::InfinitePast();  // InfinitePast: no start
  absl::Time expiry;
  // "b" (one blob) or "c" (every blob of the container).
  std::string resource = "b";
  std::string version = "2020-12-06";
  // "https" or "https,http"; empty: unrestricted.
  std::string protocol;
};

// The string a blob service SAS signs (versions 2018-11-09 and later).
std::string BlobSasStringToSign(absl::string_view account, absl::string_view container, absl::string_view blob,
                                const std::map<std::string, std::string>& params);

// The query string ("sv=...&sig=...") of a SAS signed with `key_b64`.
absl::StatusOr<std::string> CreateBlobSas(absl::string_view account, absl::string_view container,
                                          absl::string_view blob, absl::string_view key_b64,
                                          const BlobSasValues& values);

// Checks a SAS given as decoded query parameters for an access that needs
// `permission` ('r', 'w', ...) to `blob` (empty for container operations).
// PERMISSION_DENIED saying what is wrong (expired, not yet valid, tampered
// or signed with a key no longer valid, lacking the permission).
absl::Status VerifyBlobSas(const std::map<std::string, std::string>& query, absl::string_view account,
                           absl::string_view container, absl::string_view blob, char permission,
                           const std::vector<std::string>& keys_b64, absl::Time now);

// True if the query carries a SAS signature ("sig").
bool HasSas(const std::map<std::string, std::string>& query);

}  // namespace switchboard::azure
