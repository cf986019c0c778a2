#pragma once
// Builds each BlobStore implementation for the conformance suite.
// "azure" needs the Azurite that tools/services.sh starts; without its
// environment the store cannot be made and the tests FAIL saying so.

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/blob/azure_blob_store.h"
#include "server/blob/local_blob_store.h"

namespace switchboard::blob::testing {

class TempDirHolder {
 public:
  TempDirHolder() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sb-blob-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDirHolder() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<std::string> StoreKinds() { return {"local", "azure"}; }

// The Azurite account from tools/services.sh's environment.
inline absl::StatusOr<AzureBlobStoreOptions> AzuriteOptions() {
  const char* blob = std::getenv("SWITCHBOARD_TEST_AZURITE_BLOB");
  const char* account = std::getenv("SWITCHBOARD_TEST_AZURITE_ACCOUNT");
  const char* key = std::getenv("SWITCHBOARD_TEST_AZURITE_KEY");
  if (!blob || !account || !key) {
    return absl::FailedPreconditionError(
        "SWITCHBOARD_TEST_AZURITE_BLOB/_ACCOUNT/_KEY are not set: start Azurite with tools/services.sh start and "
        "eval \"$(tools/services.sh env)\" (tools/test.sh does both)");
  }
  AzureBlobStoreOptions o;
  o.accounts.push_back(AzureAccount{account, blob, key, ""});
  return o;
}

inline absl::StatusOr<std::unique_ptr<BlobStore>> MakeStore(const std::string& kind, TempDirHolder* dir) {
  if (kind == "local") {
    LocalBlobStoreOptions o;
    o.root = dir->path() + "/blobs";
    o.rehydrate_standard_seconds = 3600;
    o.rehydrate_high_seconds = 3600;
    auto s = LocalBlobStore::Open(o);
    if (!s.ok()) return s.status();
    return std::unique_ptr<BlobStore>(std::move(*s));
  }
  if (kind == "azure") {
    auto o = AzuriteOptions();
    if (!o.ok()) return o.status();
    auto s = AzureBlobStore::Open(*o);
    if (!s.ok()) return s.status();
    return std::unique_ptr<BlobStore>(std::move(*s));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown store kind ", kind));
}

}  // namespace switchboard::blob::testing
