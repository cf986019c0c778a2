#pragma once
// Blob storage behind one interface, with two implementations that pass one
// conformance suite (tests/blob/blob_store_conformance_test.cc):
//   - LocalBlobStore: a filesystem under the data dir (the embedded default);
//   - AzureBlobStore: the Azure Blob REST API over libcurl (SharedKey), also
//     what Azurite speaks.
//
// Names passed in are already validated (server/blob/blob_names.h); stores
// check them again and answer INVALID_ARGUMENT rather than trust callers.
// Errors: NOT_FOUND for a missing container or blob, ALREADY_EXISTS for a
// container that exists, FAILED_PRECONDITION for an archived blob read or an
// operation the store cannot do (key rolls against Azure).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::blob {

enum class Tier { kHot, kCool, kCold, kArchive };
enum class Rehydrate { kStandard, kHigh };
// Anonymous access: None, Blob, BlobContainer.
enum class Access { kPrivate, kBlob, kContainer };

// "Hot", "Cool", "Cold", "Archive" (Azure's spelling) and back.
const char* TierName(Tier t);
std::optional<Tier> ParseTier(absl::string_view s);
const char* AccessName(Access a);  // "None", "Blob", "BlobContainer"
std::optional<Access> ParseAccess(absl::string_view s);

using Metadata = std::map<std::string, std::string>;

struct BlobRef {
  std::string account;
  std::string container;
  std::string name;
};

struct BlobProperties {
  std::string name;
  int64_t size = 0;
  std::string content_type;
  // Azure's other content headers, served back as Content-Encoding, ...;
  // empty when not set. content_md5 is base64 of the 16-byte MD5. Kept by
  // LocalBlobStore; AzureBlobStore leaves them empty.
  std::string content_encoding;
  std::string content_language;
  std::string content_disposition;
  std::string cache_control;
  std::string content_md5;
  std::string etag;
  int64_t last_modified_us = 0;
  Metadata metadata;
  Tier tier = Tier::kHot;
  // An archived blob with a rehydration under way.
  bool rehydrating = false;
};

struct BlobPage {
  std::vector<BlobProperties> blobs;
  // Pass as `marker` for the next page; empty on the last one.
  std::string next_marker;
};

// Fills `buf` with up to `cap` bytes; returns how many (0 at the end).
using ChunkSource = std::function<absl::StatusOr<size_t>(char* buf, size_t cap)>;
// Receives consecutive pieces of a read; returning false stops the read.
using ChunkSink = std::function<bool(absl::string_view piece)>;

struct PutOptions {
  std::string content_type = "application/octet-stream";
  Metadata metadata;
  // Sent as x-ms-client-request-id (Azure echoes it into storage events).
  std::string client_request_id;
  // Stored and served back (LocalBlobStore; AzureBlobStore ignores them).
  // content_md5 empty: LocalBlobStore stores the MD5 of the bytes of a Put
  // Blob (none for a committed block list, as Azure).
  // (Default initializers: `PutOptions{type, metadata, id}` stays valid.)
  std::string content_encoding = {};
  std::string content_language = {};
  std::string content_disposition = {};
  std::string cache_control = {};
  std::string content_md5 = {};
};

// Azure's x-ms-error-code for a failed operation, carried on its status
// (a payload) so that the blob listener answers with Azure's code.
absl::Status WithAzureCode(absl::Status status, absl::string_view code);
// The code set by WithAzureCode, or "".
std::string AzureCode(const absl::Status& status);

// MD5 of bytes that arrive in pieces (OpenSSL), as Azure's Content-MD5.
class Md5Stream {
 public:
  Md5Stream();
  ~Md5Stream();
  Md5Stream(const Md5Stream&) = delete;
  Md5Stream& operator=(const Md5Stream&) = delete;
  void Update(absl::string_view piece);
  // Base64 of the 16-byte digest; call once.
  std::string FinishBase64();

 private:
  void* ctx_;
};

// Azure's CRC-64 (x-ms-content-crc64: polynomial 0x9A6C9329AC4BC9B5
// reflected, initial and final value all ones), continued over `piece`
// from `crc` (0 for the first piece).
uint64_t Crc64Update(uint64_t crc, absl::string_view piece);
// Base64 of the CRC's 8 bytes, least significant first, as Azure sends it.
std::string Crc64Base64(uint64_t crc);

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // "local" or "azure".
  virtual const char* kind() const = 0;
  // Accounts this store serves.
  virtual std::vector<std::string> accounts() const = 0;
  bool HasAccount(absl::string_view account) const;

  // Where a blob is really served (http://host:port/account/container/blob),
  // without a query string.
  virtual std::string BlobUrl(const BlobRef& ref) const = 0;

  virtual absl::Status CreateContainer(absl::string_view account, absl::string_view container) = 0;
  virtual absl::Status DeleteContainer(absl::string_view account, absl::string_view container) = 0;
  virtual absl::StatusOr<bool> ContainerExists(absl::string_view account, absl::string_view container) = 0;
  virtual absl::Status SetContainerAccess(absl::string_view account, absl::string_view container, Access access) = 0;
  virtual absl::StatusOr<Access> GetContainerAccess(absl::string_view account, absl::string_view container) = 0;

  // Writes a blob of exactly `size` bytes read from `source`, streamed, never
  // held whole in memory. Replaces an existing blob. Nothing is visible until
  // the whole body has arrived.
  virtual absl::StatusOr<BlobProperties> PutBlob(const BlobRef& ref, int64_t size, const ChunkSource& source,
                                                 const PutOptions& options) = 0;
  virtual absl::StatusOr<BlobProperties> GetProperties(const BlobRef& ref) = 0;
  // Reads [offset, offset+length) (length < 0: to the end) into `sink`.
  // FAILED_PRECONDITION for an archived blob.
  virtual absl::Status Read(const BlobRef& ref, int64_t offset, int64_t length, const ChunkSink& sink) = 0;
  // Replaces the blob's metadata. NOT_FOUND for a missing blob.
  virtual absl::Status SetMetadata(const BlobRef& ref, const Metadata& metadata,
                                   const std::string& client_request_id) = 0;
  // The same without holding the caller: `done` gets the blob's properties
  // once the change is durable (as they are then: this change, or a later
  // one), or the error. It runs on some caller's thread, possibly this one
  // before this returns, possibly one writing later changes to the blob, so
  // it must not call into the store. The default calls SetMetadata, then
  // GetProperties.
  using PropertiesCallback = std::function<void(absl::StatusOr<BlobProperties>)>;
  virtual void SetMetadataAsync(const BlobRef& ref, const Metadata& metadata, const std::string& client_request_id,
                                PropertiesCallback done);
  virtual absl::Status DeleteBlob(const BlobRef& ref, const std::string& client_request_id) = 0;
  // Server-side copy within the store (same account or another account of
  // it); the destination container must exist. Completes before returning.
  virtual absl::StatusOr<BlobProperties> CopyBlob(const BlobRef& source, const BlobRef& dest,
                                                  const std::string& client_request_id) = 0;
  virtual absl::Status SetTier(const BlobRef& ref, Tier tier, Rehydrate priority) = 0;
  virtual absl::StatusOr<BlobPage> ListBlobs(absl::string_view account, absl::string_view container,
                                             absl::string_view prefix, absl::string_view marker,
                                             int max_results) = 0;

  // The account key ("key1"/"key2") as base64, for SAS signing.
  virtual absl::StatusOr<std::string> AccountKey(absl::string_view account, absl::string_view key_name) = 0;
  // Regenerates a key. FAILED_PRECONDITION where keys cannot be rolled.
  virtual absl::Status RollKey(absl::string_view account, absl::string_view key_name) = 0;

  // A path a local process may open to read the blob's bytes, if the store
  // keeps it on this machine's filesystem.
  virtual std::optional<std::string> LocalPath(const BlobRef& ref) = 0;
};

}  // namespace switchboard::blob
