#pragma once
// Blob storage through the Azure Blob REST API (libcurl, SharedKey), against
// Azure or Azurite. Each account has an endpoint: path-style for Azurite
// ("http://127.0.0.1:10000/devstoreaccount1") or Azure's
// ("https://<account>.blob.core.windows.net").
//
// Single Put Blob calls (up to 5000 MiB per blob), streamed by libcurl.
// Key rolls are FAILED_PRECONDITION: the data plane cannot roll keys.

#include <string>
#include <vector>

#include "server/blob/blob_store.h"

namespace switchboard::blob {

struct AzureAccount {
  std::string name;
  std::string endpoint;
  // Base64 account keys; key2 optional.
  std::string key1;
  std::string key2;
};

struct AzureBlobStoreOptions {
  std::vector<AzureAccount> accounts;
  std::string api_version = "2021-12-02";
};

class AzureBlobStore final : public BlobStore {
 public:
  static absl::StatusOr<std::unique_ptr<AzureBlobStore>> Open(AzureBlobStoreOptions options);

  const char* kind() const override { return "azure"; }
  std::vector<std::string> accounts() const override;
  std::string BlobUrl(const BlobRef& ref) const override;

  absl::Status CreateContainer(absl::string_view account, absl::string_view container) override;
  absl::Status DeleteContainer(absl::string_view account, absl::string_view container) override;
  absl::StatusOr<bool> ContainerExists(absl::string_view account, absl::string_view container) override;
  absl::Status SetContainerAccess(absl::string_view account, absl::string_view container, Access access) override;
  absl::StatusOr<Access> GetContainerAccess(absl::string_view account, absl::string_view container) override;

  absl::StatusOr<BlobProperties> PutBlob(const BlobRef& ref, int64_t size, const ChunkSource& source,
                                         const PutOptions& options) override;
  absl::StatusOr<BlobProperties> GetProperties(const BlobRef& ref) override;
  absl::Status Read(const BlobRef& ref, int64_t offset, int64_t length, const ChunkSink& sink) override;
  absl::Status SetMetadata(const BlobRef& ref, const Metadata& metadata,
                           const std::string& client_request_id) override;
  absl::Status DeleteBlob(const BlobRef& ref, const std::string& client_request_id) override;
  absl::StatusOr<BlobProperties> CopyBlob(const BlobRef& source, const BlobRef& dest,
                                          const std::string& client_request_id) override;
  absl::Status SetTier(const BlobRef& ref, Tier tier, Rehydrate priority) override;
  absl::StatusOr<BlobPage> ListBlobs(absl::string_view account, absl::string_view container,
                                     absl::string_view prefix, absl::string_view marker, int max_results) override;

  absl::StatusOr<std::string> AccountKey(absl::string_view account, absl::string_view key_name) override;
  absl::Status RollKey(absl::string_view account, absl::string_view key_name) override;
  std::optional<std::string> LocalPath(const BlobRef&) override { return std::nullopt; }

 private:
  explicit AzureBlobStore(AzureBlobStoreOptions options) : options_(std::move(options)) {}
  const AzureAccount* Find(absl::string_view account) const;
  absl::Status CheckContainer(absl::string_view account, absl::string_view container) const;
  absl::Status CheckRef(const BlobRef& ref) const;

  AzureBlobStoreOptions options_;
};

}  // namespace switchboard::blob
