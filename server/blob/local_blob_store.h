#pragma once
// The embedded blob store: a filesystem under the data dir.
//
//   <root>/<account>/account.json                 keys key1 and key2
//   <root>/<account>/<container>/container.json   access level
//   <root>/<account>/<container>/blobs/<h>.data   the bytes
//   <root>/<account>/<container>/blobs/<h>.json   name, properties, metadata
//   <root>/<account>/<container>/blobs/<h>.blocklist  committed blocks (hex id, size)
//   <root>/<account>/<container>/blobs/<h>.blocks/<hex id>  uncommitted blocks
//
// Blocks (Azure's Put Block / Put Block List / Get Block List) are a
// LocalBlobStore feature the blob listener uses: staged blocks stay in the
// blob's own folder, apart from the blob, until a commit assembles the new
// blob from them (and from blocks already committed) by streaming, renames
// it into place and drops every block still uncommitted.
//
// <h> is the SHA-256 of the blob name, so any valid name (up to 1024
// characters, with '/') maps to one flat file. Bytes are written to a temp
// file and renamed into place, so a blob is either whole or absent. An
// archived blob being rehydrated changes tier once its delay has passed,
// checked when it is next looked at.
//
// Blob records are cached in memory (write-through), and a cached record is
// used only while its file is still the one it was read from or written
// as. A change to a record (metadata, tier) is applied to the cached record
// under the store's lock, then written to its file outside it, one write
// per record at a time: writes to different blobs run side by side, and
// changes to one blob that arrive during a write are written together by
// the next one, which the thread that wrote the last one makes. A caller
// is answered (SetMetadata returns, SetMetadataAsync's callback runs) only
// once a file holding its change is in place; a caller whose change waits
// for a write in progress is not held meanwhile.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/blob/blob_store.h"

namespace switchboard::blob {

struct LocalBlobStoreOptions {
  std::string root;
  // Accounts created if missing (with fresh random keys).
  std::vector<std::string> accounts = {"devstoreaccount1"};
  // Rehydration delay from Archive, by priority.
  double rehydrate_standard_seconds = 60;
  double rehydrate_high_seconds = 10;
  // Base of served URLs ("http://127.0.0.1:8081"); asked each time, since the
  // listener's port is known only after it starts.
  std::function<std::string()> base_url;
};

// Azure's limits on blocks.
inline constexpr size_t kMaxBlockIdBytes = 64;
inline constexpr size_t kMaxUncommittedBlocks = 100000;
inline constexpr size_t kMaxCommittedBlocks = 50000;
inline constexpr int64_t kMaxBlockBytes = int64_t{4000} << 20;  // 4000 MiB
inline constexpr int64_t kMaxPutBlobBytes = int64_t{5000} << 20;

// One entry of a Put Block List: which list the block is taken from.
struct BlockListEntry {
  enum class Kind { kCommitted, kUncommitted, kLatest };
  Kind kind = Kind::kLatest;
  std::string id;  // the block id's bytes (base64-decoded)
};

struct BlockInfo {
  std::string id;  // bytes
  int64_t size = 0;
};

struct BlockList {
  std::vector<BlockInfo> committed;
  std::vector<BlockInfo> uncommitted;  // in staging order
  // The committed blob, if there is one.
  std::optional<BlobProperties> blob;
};

// A blob opened for reading: the descriptor reads the version `props`
// describes, whatever replaces it meanwhile. Closes on destruction.
class OpenedBlob {
 public:
  OpenedBlob(int fd, BlobProperties props) : fd_(fd), props_(std::move(props)) {}
  OpenedBlob(OpenedBlob&& o) noexcept : fd_(o.fd_), props_(std::move(o.props_)) { o.fd_ = -1; }
  OpenedBlob& operator=(OpenedBlob&&) = delete;
  ~OpenedBlob();
  int fd() const { return fd_; }
  const BlobProperties& props() const { return props_; }
  // A source reading the blob from its start.
  ChunkSource Source() const;

 private:
  int fd_;
  BlobProperties props_;
};

struct ContainerInfo {
  Access access = Access::kPrivate;
  int64_t created_us = 0;
};

// Checked under the store's lock just before a write replaces (or a delete
// removes) the blob, with the blob as it is then (nullptr: none). A non-OK
// status stops the write, and is what the write returns.
using Precondition = std::function<absl::Status(const BlobProperties* current)>;

class LocalBlobStore final : public BlobStore {
 public:
  static absl::StatusOr<std::unique_ptr<LocalBlobStore>> Open(LocalBlobStoreOptions options);

  const char* kind() const override { return "local"; }
  std::vector<std::string> accounts() const override { return options_.accounts; }
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
  void SetMetadataAsync(const BlobRef& ref, const Metadata& metadata, const std::string& client_request_id,
                        PropertiesCallback done) override;
  absl::Status DeleteBlob(const BlobRef& ref, const std::string& client_request_id) override;
  absl::StatusOr<BlobProperties> CopyBlob(const BlobRef& source, const BlobRef& dest,
                                          const std::string& client_request_id) override;
  absl::Status SetTier(const BlobRef& ref, Tier tier, Rehydrate priority) override;
  absl::StatusOr<BlobPage> ListBlobs(absl::string_view account, absl::string_view container,
                                     absl::string_view prefix, absl::string_view marker, int max_results) override;

  // PutBlob, checking `precondition` (may be null) after the body arrived.
  absl::StatusOr<BlobProperties> PutBlobIf(const BlobRef& ref, int64_t size, const ChunkSource& source,
                                           const PutOptions& options, const Precondition& precondition);
  // Stages block `id` (1 to 64 bytes) of the blob, `size` bytes streamed to
  // disk; `check` (may be null) runs once the body has arrived, before the
  // block is kept. Replaces an uncommitted block of the same id. Azure's
  // limits, with Azure's codes (AzureCode): every id of a blob has the same
  // length (InvalidBlobOrBlock), at most 100,000 uncommitted blocks
  // (BlockCountExceedsLimit), at most 4000 MiB (RequestBodyTooLarge).
  absl::Status PutBlock(const BlobRef& ref, const std::string& id, int64_t size, const ChunkSource& source,
                        const std::function<absl::Status()>& check);
  // Commits the blob from the listed blocks, in order (an id may repeat),
  // streamed into a new file; then drops the uncommitted blocks. Its MD5 is
  // options.content_md5 (none when empty), as Azure keeps it. A block not
  // found in the list an entry names is InvalidBlockList.
  absl::StatusOr<BlobProperties> CommitBlockList(const BlobRef& ref, const std::vector<BlockListEntry>& entries,
                                                 const PutOptions& options, const Precondition& precondition);
  // Set Blob Properties: replaces the content headers (content_type ...
  // content_md5 of `headers`; an empty one is cleared, as Azure does).
  absl::StatusOr<BlobProperties> SetContentHeaders(const BlobRef& ref, const PutOptions& headers);
  // The committed and uncommitted blocks. NOT_FOUND if there is neither a
  // blob nor a staged block.
  absl::StatusOr<BlockList> GetBlockList(const BlobRef& ref);
  // The blob opened for reading. FAILED_PRECONDITION for an archived blob.
  absl::StatusOr<OpenedBlob> OpenBlob(const BlobRef& ref);
  // DeleteBlob, checking `precondition` (may be null) first; also drops
  // the blob's blocks.
  absl::Status DeleteBlobIf(const BlobRef& ref, const Precondition& precondition);
  absl::StatusOr<ContainerInfo> GetContainerInfo(absl::string_view account, absl::string_view container);

  absl::StatusOr<std::string> AccountKey(absl::string_view account, absl::string_view key_name) override;
  absl::Status RollKey(absl::string_view account, absl::string_view key_name) override;
  std::optional<std::string> LocalPath(const BlobRef& ref) override;

  // Which file a record path names: a write replaces it with a new one.
  struct FileId {
    uint64_t inode = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileId&) const = default;
  };

  // Test hook: the rehydration delays.
  void SetRehydrateDelays(double standard_seconds, double high_seconds);

 private:
  explicit LocalBlobStore(LocalBlobStoreOptions options) : options_(std::move(options)) {}

  absl::Status CheckRef(const BlobRef& ref) const;
  absl::Status CheckContainer(absl::string_view account, absl::string_view container) const;
  std::string ContainerDir(absl::string_view account, absl::string_view container) const;
  std::string BlobBase(const BlobRef& ref) const;
  std::string RecordPath(const BlobRef& ref) const;
  // The committed blocks recorded beside the blob ({} if none).
  std::vector<BlockInfo> ReadCommittedLocked(const std::string& base);
  // Renames the new bytes `tmp` into place as the blob with `record`, after
  // checking the container and `precondition`. Caller holds `lock`.
  absl::StatusOr<BlobProperties> ReplaceLocked(std::unique_lock<std::mutex>& lock, const BlobRef& ref,
                                               const std::string& tmp, nlohmann::json record,
                                               const Precondition& precondition);
  // Loads the blob's record (from the cache, else its file), applying a due
  // rehydration. Caller holds mu_.
  absl::StatusOr<nlohmann::json> LoadLocked(const BlobRef& ref);
  // Puts a changed record in the cache and answers `done` once a file
  // holding it is in place: at once, if a write of the record is under way
  // (that write's thread writes this change next); else this thread writes
  // the record, and goes on writing it while changes arrive meanwhile.
  // Caller holds `lock` on mu_, which is released on return.
  void CommitLocked(std::unique_lock<std::mutex>& lock, const BlobRef& ref, const std::string& path,
                    nlohmann::json record, PropertiesCallback done);
  // Writes the record at `path`, which is marked as being written, until no
  // staged change is left, answering the callers each write covers. Caller
  // holds `lock` on mu_, which is released on return.
  void WriteLoop(std::unique_lock<std::mutex>& lock, const BlobRef& ref, const std::string& path);
  // Waits until no write of the record at `where` (a record's path, or a
  // folder ending in '/': any record in it) is in flight, so it can be
  // replaced or removed. Caller holds `lock` on mu_.
  void AwaitWritesLocked(std::unique_lock<std::mutex>& lock, const std::string& where);
  // Waits while a caller of AwaitWritesLocked waits, before a change is
  // made: a record always being written would hold off a delete or a
  // replace. Caller holds `lock` on mu_.
  void AwaitNoReplacementLocked(std::unique_lock<std::mutex>& lock);
  // Drops written records once the cache holds too many. Caller holds mu_.
  void TrimCacheLocked();
  absl::Status EnsureAccount(const std::string& account);

  struct CachedRecord {
    nlohmann::json value;
    // Changes staged, and the newest of them in the file.
    uint64_t version = 0;
    uint64_t written = 0;
    // A thread is writing the record, and will write what is staged
    // meanwhile. Nothing removes a record while it is set.
    bool writing = false;
    // The file the record was read from or last written as.
    FileId file;
    // Callers whose changes the write under way does not hold, waiting for
    // the file to hold them; only while `writing`.
    std::vector<PropertiesCallback> waiters;
  };

  LocalBlobStoreOptions options_;
  std::mutex mu_;
  // By record path; guarded by mu_.
  std::unordered_map<std::string, CachedRecord> records_;
  // Signalled whenever a record write ends (AwaitWritesLocked), and when the
  // last caller waiting in AwaitWritesLocked goes on.
  std::condition_variable written_cv_;
  // Callers in AwaitWritesLocked; guarded by mu_.
  int replacing_ = 0;
};

// Properties from a stored record.
BlobProperties PropertiesFromRecord(const nlohmann::json& record);

}  // namespace switchboard::blob
