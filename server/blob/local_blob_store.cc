#include "server/blob/local_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/azure/crypto.h"
#include "common/azure/url.h"
#include "common/status.h"
#include "common/uuid.h"
#include "common/wait.h"
#include "server/blob/blob_names.h"

namespace switchboard::blob {
namespace fs = std::filesystem;
using FileId = LocalBlobStore::FileId;
using nlohmann::json;

namespace {

absl::Status IoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " '", path, "': ", std::strerror(errno)));
}

FileId FileIdOf(const struct stat& st) {
  return FileId{static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// The identity of the file at `path` now; nullopt if there is none.
std::optional<FileId> StatFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileIdOf(st);
}

// 12 hex digits that keep a temporary name apart from its neighbours.
std::string TempTag() { return absl::StrCat(absl::Hex(UniqueRandom64() >> 16, absl::kZeroPad12)); }

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("no file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes to a temp file beside `path`, then renames it into place; `id`
// (if given) gets the new file's identity.
absl::Status WriteAtomic(const std::string& path, absl::string_view text, FileId* id = nullptr) {
  std::string tmp = absl::StrCat(path, ".tmp-", TempTag());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot write", tmp);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = IoError("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    off += static_cast<size_t>(n);
  }
  struct stat st;
  if (id != nullptr && ::fstat(fd, &st) == 0) *id = FileIdOf(st);
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = IoError("cannot write", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<json> ReadJson(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadText(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError(absl::StrCat("corrupt record '", path, "'"));
  return j;
}

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

// Unique, not secret: no system call per etag.
std::string NewEtag() { return absl::StrFormat("\"0x%016X\"", UniqueRandom64()); }

std::string NewKey() { return absl::Base64Escape(azure::RandomBytes(64)); }

std::string NotFoundBlob(const BlobRef& ref) {
  return absl::StrCat("blob '", ref.name, "' does not exist in container '", ref.container, "' of account '",
                      ref.account, "'");
}

// Copies exactly `size` bytes from `source` to `fd` (the file `path`),
// feeding `md5` if given.
absl::Status CopyToFile(int fd, const std::string& path, int64_t size, const ChunkSource& source, Md5Stream* md5) {
  std::vector<char> buf(1 << 16);
  int64_t written = 0;
  while (written < size) {
    size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(buf.size()), size - written));
    auto n = source(buf.data(), want);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the body ended after ", written, " of ", size, " bytes; send the whole body"));
    }
    if (md5 != nullptr) md5->Update(absl::string_view(buf.data(), *n));
    size_t off = 0;
    while (off < *n) {
      ssize_t w = ::write(fd, buf.data() + off, *n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot write", path);
      }
      off += static_cast<size_t>(w);
    }
    written += static_cast<int64_t>(*n);
  }
  return absl::OkStatus();
}

// The record of a blob just written, with its content headers.
json NewRecord(const BlobRef& ref, int64_t size, const PutOptions& o, const std::string& computed_md5) {
  json record = {{"name", ref.name},
                 {"size", size},
                 {"content_type", o.content_type.empty() ? "application/octet-stream" : o.content_type},
                 {"etag", NewEtag()},
                 {"last_modified_us", NowUs()},
                 {"metadata", o.metadata},
                 {"tier", "Hot"}};
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) record[key] = v;
  };
  put("content_encoding", o.content_encoding);
  put("content_language", o.content_language);
  put("content_disposition", o.content_disposition);
  put("cache_control", o.cache_control);
  put("content_md5", o.content_md5.empty() ? computed_md5 : o.content_md5);
  return record;
}

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

}  // namespace

OpenedBlob::~OpenedBlob() {
  if (fd_ >= 0) ::close(fd_);
}

ChunkSource OpenedBlob::Source() const {
  auto pos = std::make_shared<int64_t>(0);
  int fd = fd_;
  int64_t size = props_.size;
  return [fd, pos, size](char* buf, size_t cap) -> absl::StatusOr<size_t> {
    size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(cap), size - *pos));
    if (want == 0) return size_t{0};
    while (true) {
      ssize_t n = ::pread(fd, buf, want, *pos);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::InternalError(absl::StrCat("read failed: ", std::strerror(errno)));
      *pos += n;
      return static_cast<size_t>(n);
    }
  };
}

BlobProperties PropertiesFromRecord(const json& r) {
  BlobProperties p;
  p.name = r.value("name", "");
  p.size = r.value("size", int64_t{0});
  p.content_type = r.value("content_type", "application/octet-stream");
  p.content_encoding = r.value("content_encoding", "");
  p.content_language = r.value("content_language", "");
  p.content_disposition = r.value("content_disposition", "");
  p.cache_control = r.value("cache_control", "");
  p.content_md5 = r.value("content_md5", "");
  p.etag = r.value("etag", "");
  p.last_modified_us = r.value("last_modified_us", int64_t{0});
  if (r.contains("metadata") && r["metadata"].is_object()) {
    for (auto& [k, v] : r["metadata"].items()) p.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  p.tier = ParseTier(r.value("tier", "Hot")).value_or(Tier::kHot);
  p.rehydrating = r.value("rehydrate_at_us", int64_t{0}) > 0;
  return p;
}

absl::StatusOr<std::unique_ptr<LocalBlobStore>> LocalBlobStore::Open(LocalBlobStoreOptions options) {
  if (options.root.empty()) return absl::InvalidArgumentError("blob store root must be set");
  for (const auto& a : options.accounts) RETURN_IF_ERROR(ValidateAccountName(a, "blob_local_accounts"));
  std::error_code ec;
  fs::create_directories(options.root, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create '", options.root, "': ", ec.message()));
  auto store = std::unique_ptr<LocalBlobStore>(new LocalBlobStore(std::move(options)));
  for (const auto& a : store->options_.accounts) RETURN_IF_ERROR(store->EnsureAccount(a));
  return store;
}

absl::Status LocalBlobStore::EnsureAccount(const std::string& account) {
  std::string dir = (fs::path(options_.root) / account).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create '", dir, "': ", ec.message()));
  std::string path = dir + "/account.json";
  if (fs::exists(path)) return absl::OkStatus();
  json j = {{"key1", NewKey()}, {"key2", NewKey()}};
  RETURN_IF_ERROR(WriteAtomic(path, j.dump()));
  ::chmod(path.c_str(), 0600);
  return absl::OkStatus();
}

void LocalBlobStore::SetRehydrateDelays(double standard_seconds, double high_seconds) {
  std::lock_guard<std::mutex> l(mu_);
  options_.rehydrate_standard_seconds = standard_seconds;
  options_.rehydrate_high_seconds = high_seconds;
}

std::string LocalBlobStore::BlobUrl(const BlobRef& ref) const {
  std::string base = options_.base_url ? options_.base_url() : "http://127.0.0.1";
  // Percent-encoded like AzureBlobStore's, so that a name with '?', '#',
  // '%' or a space leads back to the same blob (BlobRouter decodes it).
  return absl::StrCat(base, "/", ref.account, "/", ref.container, "/", azure::PercentEncode(ref.name, true));
}

absl::Status LocalBlobStore::CheckContainer(absl::string_view account, absl::string_view container) const {
  if (!HasAccount(account)) {
    return absl::InvalidArgumentError(absl::StrCat("storage account '", account, "' is not served by this store"));
  }
  return ValidateContainerName(container, "container");
}

absl::Status LocalBlobStore::CheckRef(const BlobRef& ref) const {
  RETURN_IF_ERROR(CheckContainer(ref.account, ref.container));
  return ValidateBlobName(ref.name, "blob");
}

std::string LocalBlobStore::ContainerDir(absl::string_view account, absl::string_view container) const {
  return absl::StrCat(options_.root, "/", account, "/", container);
}

std::string LocalBlobStore::BlobBase(const BlobRef& ref) const {
  // The same few blobs are named over and over: each thread remembers the
  // hashes it made last.
  thread_local absl::flat_hash_map<std::string, std::string> hashes;
  auto it = hashes.find(ref.name);
  if (it == hashes.end()) {
    if (hashes.size() >= 1024) hashes.clear();
    it = hashes.emplace(ref.name, azure::Sha256Hex(ref.name)).first;
  }
  return absl::StrCat(ContainerDir(ref.account, ref.container), "/blobs/", it->second);
}

absl::Status LocalBlobStore::CreateContainer(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  std::lock_guard<std::mutex> l(mu_);
  std::string dir = ContainerDir(account, container);
  if (fs::exists(dir + "/container.json")) {
    return absl::AlreadyExistsError(absl::StrCat("container '", container, "' already exists"));
  }
  std::error_code ec;
  fs::create_directories(dir + "/blobs", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create '", dir, "': ", ec.message()));
  return WriteAtomic(dir + "/container.json", json{{"access", "None"}, {"created_us", NowUs()}}.dump());
}

absl::Status LocalBlobStore::DeleteContainer(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  std::unique_lock<std::mutex> l(mu_);
  std::string dir = ContainerDir(account, container);
  const std::string records_in = dir + "/";
  // No record of the container's blobs is being written while it goes.
  AwaitWritesLocked(l, records_in);
  if (!fs::exists(dir + "/container.json")) {
    return absl::NotFoundError(absl::StrCat("container '", container, "' does not exist"));
  }
  std::erase_if(records_, [&](const auto& entry) { return absl::StartsWith(entry.first, records_in); });
  // Rename first so that the container disappears at once, then remove.
  std::string gone = absl::StrCat(dir, ".deleted-", TempTag());
  if (::rename(dir.c_str(), gone.c_str()) != 0) return IoError("cannot delete container", dir);
  std::error_code ec;
  fs::remove_all(gone, ec);
  return absl::OkStatus();
}

absl::StatusOr<bool> LocalBlobStore::ContainerExists(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  return fs::exists(ContainerDir(account, container) + "/container.json");
}

absl::Status LocalBlobStore::SetContainerAccess(absl::string_view account, absl::string_view container,
                                                Access access) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  std::lock_guard<std::mutex> l(mu_);
  std::string path = ContainerDir(account, container) + "/container.json";
  auto j = ReadJson(path);
  if (!j.ok()) return absl::NotFoundError(absl::StrCat("container '", container, "' does not exist"));
  (*j)["access"] = AccessName(access);
  return WriteAtomic(path, j->dump());
}

absl::StatusOr<Access> LocalBlobStore::GetContainerAccess(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  std::lock_guard<std::mutex> l(mu_);
  auto j = ReadJson(ContainerDir(account, container) + "/container.json");
  if (!j.ok()) return absl::NotFoundError(absl::StrCat("container '", container, "' does not exist"));
  return ParseAccess(j->value("access", "None")).value_or(Access::kPrivate);
}

absl::StatusOr<BlobProperties> LocalBlobStore::PutBlob(const BlobRef& ref, int64_t size, const ChunkSource& source,
                                                       const PutOptions& options) {
  return PutBlobIf(ref, size, source, options, nullptr);
}

absl::StatusOr<BlobProperties> LocalBlobStore::PutBlobIf(const BlobRef& ref, int64_t size, const ChunkSource& source,
                                                         const PutOptions& options,
                                                         const Precondition& precondition) {
  RETURN_IF_ERROR(CheckRef(ref));
  RETURN_IF_ERROR(ValidateMetadata(options.metadata, "metadata"));
  if (size < 0) return absl::InvalidArgumentError("size must be >= 0");
  std::string dir = ContainerDir(ref.account, ref.container);
  if (!fs::exists(dir + "/container.json")) {
    return WithAzureCode(absl::NotFoundError(absl::StrCat("container '", ref.container, "' does not exist")),
                         "ContainerNotFound");
  }
  std::string base = BlobBase(ref);
  std::string tmp = absl::StrCat(base, ".upload-", TempTag());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create", tmp);
  Md5Stream md5;
  absl::Status copied = CopyToFile(fd, tmp, size, source, &md5);
  if (::close(fd) != 0 && copied.ok()) copied = IoError("cannot write", tmp);
  if (!copied.ok()) {
    ::unlink(tmp.c_str());
    return copied;
  }
  json record = NewRecord(ref, size, options, md5.FinishBase64());
  std::unique_lock<std::mutex> l(mu_);
  ASSIGN_OR_RETURN(BlobProperties props, ReplaceLocked(l, ref, tmp, std::move(record), precondition));
  // A blob put whole has no committed blocks.
  ::unlink((base + ".blocklist").c_str());
  return props;
}

absl::StatusOr<BlobProperties> LocalBlobStore::ReplaceLocked(std::unique_lock<std::mutex>& lock, const BlobRef& ref,
                                                             const std::string& tmp, json record,
                                                             const Precondition& precondition) {
  std::string base = BlobBase(ref);
  std::string path = base + ".json";
  AwaitWritesLocked(lock, path);
  if (!fs::exists(ContainerDir(ref.account, ref.container) + "/container.json")) {
    ::unlink(tmp.c_str());
    return WithAzureCode(
        absl::NotFoundError(absl::StrCat("container '", ref.container, "' was deleted during the upload")),
        "ContainerNotFound");
  }
  if (precondition) {
    auto current = LoadLocked(ref);
    std::optional<BlobProperties> props;
    if (current.ok()) props = PropertiesFromRecord(*current);
    absl::Status s = precondition(props ? &*props : nullptr);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), (base + ".data").c_str()) != 0) {
    ::unlink(tmp.c_str());
    return IoError("cannot rename into", base + ".data");
  }
  records_.erase(path);
  FileId id;
  RETURN_IF_ERROR(WriteAtomic(path, record.dump(), &id));
  BlobProperties props = PropertiesFromRecord(record);
  TrimCacheLocked();
  CachedRecord& cached = records_[path];
  cached.value = std::move(record);
  cached.file = id;
  return props;
}

std::string LocalBlobStore::RecordPath(const BlobRef& ref) const { return BlobBase(ref) + ".json"; }

absl::StatusOr<json> LocalBlobStore::LoadLocked(const BlobRef& ref) {
  std::string path = RecordPath(ref);
  auto it = records_.find(path);
  // A cached record with no change of its own pending is used while its
  // file is the one it was read from or written as (another process, or
  // another store on the same folder, may have replaced it).
  std::optional<FileId> id;
  if (it != records_.end() && it->second.written == it->second.version && !it->second.writing) {
    id = StatFile(path);
    if (!id || !(*id == it->second.file)) {
      records_.erase(it);
      it = records_.end();
    }
  }
  if (it == records_.end()) {
    if (!id) id = StatFile(path);
    auto j = ReadJson(path);
    if (!j.ok()) {
      if (absl::IsNotFound(j.status())) return WithAzureCode(absl::NotFoundError(NotFoundBlob(ref)), "BlobNotFound");
      return j.status();
    }
    TrimCacheLocked();
    it = records_.emplace(path, CachedRecord{}).first;
    it->second.value = std::move(*j);
    it->second.file = id.value_or(FileId{});
  }
  // A finished rehydration needs no write of its own: every load applies
  // it, and the next change to the record writes it.
  json& j = it->second.value;
  int64_t at = j.value("rehydrate_at_us", int64_t{0});
  if (at > 0 && NowUs() >= at) {
    j["tier"] = j.value("rehydrate_to", "Hot");
    j.erase("rehydrate_at_us");
    j.erase("rehydrate_to");
  }
  return j;
}

void LocalBlobStore::TrimCacheLocked() {
  constexpr size_t kMaxCached = 4096;
  if (records_.size() < kMaxCached) return;
  for (auto it = records_.begin(); it != records_.end();) {
    const CachedRecord& r = it->second;
    bool idle = r.written == r.version && !r.writing;
    it = idle ? records_.erase(it) : std::next(it);
  }
}

void LocalBlobStore::AwaitWritesLocked(std::unique_lock<std::mutex>& lock, const std::string& where) {
  auto busy = [&] {
    if (!absl::EndsWith(where, "/")) {
      auto it = records_.find(where);
      return it != records_.end() && it->second.writing;
    }
    for (const auto& [path, r] : records_) {
      if (r.writing && absl::StartsWith(path, where)) return true;
    }
    return false;
  };
  // While this waits, new changes wait too (AwaitNoReplacementLocked), so
  // that a stream of them cannot keep a write under way for ever.
  ++replacing_;
  written_cv_.wait(lock, [&] { return !busy(); });
  if (--replacing_ == 0) written_cv_.notify_all();
}

void LocalBlobStore::AwaitNoReplacementLocked(std::unique_lock<std::mutex>& lock) {
  written_cv_.wait(lock, [this] { return replacing_ == 0; });
}

void LocalBlobStore::CommitLocked(std::unique_lock<std::mutex>& lock, const BlobRef& ref, const std::string& path,
                                  json record, PropertiesCallback done) {
  CachedRecord& r = records_[path];
  r.value = std::move(record);
  ++r.version;
  r.waiters.push_back(std::move(done));
  if (r.writing) {
    lock.unlock();
    return;
  }
  r.writing = true;
  WriteLoop(lock, ref, path);
}

void LocalBlobStore::WriteLoop(std::unique_lock<std::mutex>& lock, const BlobRef& ref, const std::string& path) {
  while (true) {
    // Nothing removes a record while it is being written.
    CachedRecord& r = records_.find(path)->second;
    const uint64_t version = r.version;
    std::string text = r.value.dump();
    BlobProperties props = PropertiesFromRecord(r.value);
    std::vector<PropertiesCallback> covered = std::move(r.waiters);
    r.waiters.clear();
    lock.unlock();
    FileId id;
    absl::Status s = WriteAtomic(path, text, &id);
    lock.lock();
    auto it = records_.find(path);
    CachedRecord& w = it->second;
    std::vector<PropertiesCallback> dropped;
    bool more = false;
    if (s.ok()) {
      w.written = version;
      w.file = id;
      more = w.version > version;
      w.writing = more;
    } else {
      // The file keeps its last good version; the next load reads it again,
      // and the changes staged during this write go with the cached record.
      dropped = std::move(w.waiters);
      records_.erase(it);
    }
    if (!more) written_cv_.notify_all();
    lock.unlock();
    for (PropertiesCallback& c : covered) {
      if (s.ok()) c(props);
      else c(s);
    }
    for (PropertiesCallback& d : dropped) {
      d(absl::AbortedError(absl::StrCat("blob '", ref.name, "' could not be written (", s.message(),
                                             "); this change was not kept, retry")));
    }
    if (!more) return;
    lock.lock();
  }
}

absl::StatusOr<BlobProperties> LocalBlobStore::GetProperties(const BlobRef& ref) {
  RETURN_IF_ERROR(CheckRef(ref));
  std::lock_guard<std::mutex> l(mu_);
  ASSIGN_OR_RETURN(json j, LoadLocked(ref));
  return PropertiesFromRecord(j);
}

absl::Status LocalBlobStore::Read(const BlobRef& ref, int64_t offset, int64_t length, const ChunkSink& sink) {
  RETURN_IF_ERROR(CheckRef(ref));
  int fd = -1;
  int64_t size = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(json j, LoadLocked(ref));
    auto p = PropertiesFromRecord(j);
    if (p.tier == Tier::kArchive) {
      return absl::FailedPreconditionError(absl::StrCat("blob '", ref.name,
                                                        "' is archived; change its tier to Hot or Cool and wait "
                                                        "for the rehydration before reading it"));
    }
    size = p.size;
    // Opened under the lock: a later replace renames a new file over the
    // name, and this descriptor keeps reading the old one whole.
    fd = ::open((BlobBase(ref) + ".data").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot open", BlobBase(ref) + ".data");
  }
  if (offset < 0 || offset > size) {
    ::close(fd);
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is outside the blob (", size, " bytes)"));
  }
  int64_t end = length < 0 ? size : std::min(size, offset + length);
  std::vector<char> buf(1 << 16);
  int64_t pos = offset;
  while (pos < end) {
    size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(buf.size()), end - pos));
    ssize_t n = ::pread(fd, buf.data(), want, pos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return absl::DataLossError(absl::StrCat("blob '", ref.name, "' is shorter on disk than recorded"));
    }
    pos += n;
    if (!sink(absl::string_view(buf.data(), static_cast<size_t>(n)))) break;
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::Status LocalBlobStore::SetMetadata(const BlobRef& ref, const Metadata& metadata,
                                         const std::string& client_request_id) {
  return Wait<BlobProperties>([&](PropertiesCallback done) {
           SetMetadataAsync(ref, metadata, client_request_id, std::move(done));
         }).status();
}

void LocalBlobStore::SetMetadataAsync(const BlobRef& ref, const Metadata& metadata, const std::string&,
                                      PropertiesCallback done) {
  if (auto s = CheckRef(ref); !s.ok()) return done(s);
  if (auto s = ValidateMetadata(metadata, "metadata"); !s.ok()) return done(s);
  std::string path = RecordPath(ref);
  std::unique_lock<std::mutex> l(mu_);
  AwaitNoReplacementLocked(l);
  auto j = LoadLocked(ref);
  if (!j.ok()) {
    l.unlock();
    return done(j.status());
  }
  (*j)["metadata"] = metadata;
  (*j)["etag"] = NewEtag();
  (*j)["last_modified_us"] = NowUs();
  CommitLocked(l, ref, path, std::move(*j), std::move(done));
}

absl::Status LocalBlobStore::DeleteBlob(const BlobRef& ref, const std::string&) {
  return DeleteBlobIf(ref, nullptr);
}

absl::Status LocalBlobStore::DeleteBlobIf(const BlobRef& ref, const Precondition& precondition) {
  RETURN_IF_ERROR(CheckRef(ref));
  std::string base = BlobBase(ref);
  std::string gone;
  {
    std::unique_lock<std::mutex> l(mu_);
    AwaitWritesLocked(l, base + ".json");
    if (precondition) {
      ASSIGN_OR_RETURN(json j, LoadLocked(ref));
      BlobProperties current = PropertiesFromRecord(j);
      RETURN_IF_ERROR(precondition(&current));
    }
    records_.erase(base + ".json");
    if (::unlink((base + ".json").c_str()) != 0) {
      if (errno == ENOENT) return WithAzureCode(absl::NotFoundError(NotFoundBlob(ref)), "BlobNotFound");
      return IoError("cannot delete", base + ".json");
    }
    ::unlink((base + ".data").c_str());
    ::unlink((base + ".blocklist").c_str());
    gone = absl::StrCat(base, ".gone-", TempTag());
    if (::rename((base + ".blocks").c_str(), gone.c_str()) != 0) gone.clear();
  }
  std::error_code ec;
  if (!gone.empty()) fs::remove_all(gone, ec);
  return absl::OkStatus();
}

absl::StatusOr<BlobProperties> LocalBlobStore::CopyBlob(const BlobRef& source, const BlobRef& dest,
                                                        const std::string& client_request_id) {
  RETURN_IF_ERROR(CheckRef(source));
  RETURN_IF_ERROR(CheckRef(dest));
  BlobProperties src;
  {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(json j, LoadLocked(source));
    src = PropertiesFromRecord(j);
  }
  if (src.tier == Tier::kArchive) {
    return absl::FailedPreconditionError(
        absl::StrCat("source blob '", source.name, "' is archived; rehydrate it before copying"));
  }
  int fd = ::open((BlobBase(source) + ".data").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(NotFoundBlob(source));
  PutOptions opts;
  opts.content_type = src.content_type;
  opts.metadata = src.metadata;
  opts.client_request_id = client_request_id;
  auto result = PutBlob(dest, src.size, [fd](char* buf, size_t cap) -> absl::StatusOr<size_t> {
    while (true) {
      ssize_t n = ::read(fd, buf, cap);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::InternalError(absl::StrCat("read failed: ", std::strerror(errno)));
      return static_cast<size_t>(n);
    }
  }, opts);
  ::close(fd);
  return result;
}

absl::Status LocalBlobStore::SetTier(const BlobRef& ref, Tier tier, Rehydrate priority) {
  RETURN_IF_ERROR(CheckRef(ref));
  std::string path = RecordPath(ref);
  std::unique_lock<std::mutex> l(mu_);
  AwaitNoReplacementLocked(l);
  ASSIGN_OR_RETURN(json j, LoadLocked(ref));
  Tier current = ParseTier(j.value("tier", "Hot")).value_or(Tier::kHot);
  if (current == Tier::kArchive && tier != Tier::kArchive) {
    if (j.value("rehydrate_at_us", int64_t{0}) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("blob '", ref.name, "' is already being rehydrated; wait for it to finish"));
    }
    double delay = priority == Rehydrate::kHigh ? options_.rehydrate_high_seconds : options_.rehydrate_standard_seconds;
    j["rehydrate_to"] = TierName(tier);
    j["rehydrate_at_us"] = NowUs() + static_cast<int64_t>(delay * 1e6);
    if (delay <= 0) {
      j["tier"] = TierName(tier);
      j.erase("rehydrate_to");
      j.erase("rehydrate_at_us");
    }
  } else {
    j["tier"] = TierName(tier);
    j.erase("rehydrate_to");
    j.erase("rehydrate_at_us");
  }
  return Wait<BlobProperties>([&](PropertiesCallback done) {
           CommitLocked(l, ref, path, std::move(j), std::move(done));
         }).status();
}

absl::StatusOr<BlobPage> LocalBlobStore::ListBlobs(absl::string_view account, absl::string_view container,
                                                   absl::string_view prefix, absl::string_view marker,
                                                   int max_results) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  if (max_results <= 0) max_results = 5000;
  std::lock_guard<std::mutex> l(mu_);
  std::string dir = ContainerDir(account, container);
  if (!fs::exists(dir + "/container.json")) {
    return absl::NotFoundError(absl::StrCat("container '", container, "' does not exist"));
  }
  std::vector<BlobProperties> all;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir + "/blobs", ec)) {
    const auto& p = entry.path();
    if (p.extension() != ".json") continue;
    auto j = ReadJson(p.string());
    if (!j.ok()) continue;  // raced with a delete
    std::string name = j->value("name", "");
    if (!absl::StartsWith(name, prefix) || name <= std::string(marker)) continue;
    ASSIGN_OR_RETURN(json loaded, LoadLocked(BlobRef{std::string(account), std::string(container), name}));
    all.push_back(PropertiesFromRecord(loaded));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  BlobPage page;
  if (static_cast<int>(all.size()) > max_results) {
    all.resize(static_cast<size_t>(max_results));
    page.next_marker = all.back().name;
  }
  page.blobs = std::move(all);
  return page;
}

absl::StatusOr<std::string> LocalBlobStore::AccountKey(absl::string_view account, absl::string_view key_name) {
  if (!HasAccount(account)) {
    return absl::InvalidArgumentError(absl::StrCat("storage account '", account, "' is not served by this store"));
  }
  if (key_name != "key1" && key_name != "key2") {
    return absl::InvalidArgumentError(absl::StrCat("keyName '", key_name, "' must be key1 or key2"));
  }
  std::lock_guard<std::mutex> l(mu_);
  ASSIGN_OR_RETURN(json j, ReadJson(absl::StrCat(options_.root, "/", account, "/account.json")));
  return j.value(std::string(key_name), "");
}

absl::Status LocalBlobStore::RollKey(absl::string_view account, absl::string_view key_name) {
  if (!HasAccount(account)) {
    return absl::InvalidArgumentError(absl::StrCat("account '", account, "' is not served by this store"));
  }
  if (key_name != "key1" && key_name != "key2") {
    return absl::InvalidArgumentError(absl::StrCat("keyName '", key_name, "' must be key1 or key2"));
  }
  std::lock_guard<std::mutex> l(mu_);
  std::string path = absl::StrCat(options_.root, "/", account, "/account.json");
  ASSIGN_OR_RETURN(json j, ReadJson(path));
  j[std::string(key_name)] = NewKey();
  return WriteAtomic(path, j.dump());
}

std::optional<std::string> LocalBlobStore::LocalPath(const BlobRef& ref) {
  if (!CheckRef(ref).ok()) return std::nullopt;
  std::string path = BlobBase(ref) + ".data";
  if (!fs::exists(path)) return std::nullopt;
  return path;
}

absl::StatusOr<ContainerInfo> LocalBlobStore::GetContainerInfo(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  std::lock_guard<std::mutex> l(mu_);
  auto j = ReadJson(ContainerDir(account, container) + "/container.json");
  if (!j.ok()) {
    return WithAzureCode(absl::NotFoundError(absl::StrCat("container '", container, "' does not exist")),
                         "ContainerNotFound");
  }
  ContainerInfo info;
  info.access = ParseAccess(j->value("access", "None")).value_or(Access::kPrivate);
  info.created_us = j->value("created_us", int64_t{0});
  return info;
}

absl::StatusOr<OpenedBlob> LocalBlobStore::OpenBlob(const BlobRef& ref) {
  RETURN_IF_ERROR(CheckRef(ref));
  std::lock_guard<std::mutex> l(mu_);
  ASSIGN_OR_RETURN(json j, LoadLocked(ref));
  BlobProperties p = PropertiesFromRecord(j);
  if (p.tier == Tier::kArchive) {
    return WithAzureCode(absl::FailedPreconditionError(absl::StrCat(
                             "blob '", ref.name, "' is archived; rehydrate it (change its tier) before reading it")),
                         "BlobArchived");
  }
  int fd = ::open((BlobBase(ref) + ".data").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open", BlobBase(ref) + ".data");
  return OpenedBlob(fd, std::move(p));
}

std::vector<BlockInfo> LocalBlobStore::ReadCommittedLocked(const std::string& base) {
  std::vector<BlockInfo> out;
  std::ifstream in(base + ".blocklist");
  std::string hex;
  int64_t size = 0;
  while (in >> hex >> size) out.push_back(BlockInfo{absl::HexStringToBytes(hex), size});
  return out;
}

namespace {

// The uncommitted blocks in `dir`, in staging order (then by id).
std::vector<BlockInfo> StagedBlocks(const std::string& dir) {
  struct Staged {
    BlockInfo info;
    int64_t mtime_ns;
  };
  std::vector<Staged> staged;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name.size() % 2 != 0 ||
        name.find_first_not_of("0123456789abcdef") != std::string::npos) {
      continue;  // a block being written (tmp-...)
    }
    struct stat st;
    if (::stat(entry.path().c_str(), &st) != 0) continue;
    staged.push_back(Staged{BlockInfo{absl::HexStringToBytes(name), static_cast<int64_t>(st.st_size)},
                            static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec});
  }
  std::sort(staged.begin(), staged.end(), [](const Staged& a, const Staged& b) {
    return a.mtime_ns != b.mtime_ns ? a.mtime_ns < b.mtime_ns : a.info.id < b.info.id;
  });
  std::vector<BlockInfo> out;
  out.reserve(staged.size());
  for (auto& s : staged) out.push_back(std::move(s.info));
  return out;
}

absl::Status InvalidBlock(absl::string_view message) {
  return WithAzureCode(absl::InvalidArgumentError(message), "InvalidBlobOrBlock");
}

}  // namespace

absl::Status LocalBlobStore::PutBlock(const BlobRef& ref, const std::string& id, int64_t size,
                                      const ChunkSource& source, const std::function<absl::Status()>& check) {
  RETURN_IF_ERROR(CheckRef(ref));
  if (id.empty() || id.size() > kMaxBlockIdBytes) {
    return WithAzureCode(absl::InvalidArgumentError(absl::StrCat("blockid must decode to 1 to ", kMaxBlockIdBytes,
                                                                 " bytes; it decodes to ", id.size())),
                         "InvalidQueryParameterValue");
  }
  if (size < 0 || size > kMaxBlockBytes) {
    return WithAzureCode(absl::InvalidArgumentError(absl::StrCat("a block holds at most ", kMaxBlockBytes,
                                                                 " bytes (4000 MiB); stage smaller blocks")),
                         "RequestBodyTooLarge");
  }
  if (!fs::exists(ContainerDir(ref.account, ref.container) + "/container.json")) {
    return WithAzureCode(absl::NotFoundError(absl::StrCat("container '", ref.container, "' does not exist")),
                         "ContainerNotFound");
  }
  std::string base = BlobBase(ref);
  std::string dir = base + ".blocks";
  std::string final_path = absl::StrCat(dir, "/", Hex(id));
  {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<BlockInfo> committed = ReadCommittedLocked(base);
    std::vector<BlockInfo> staged = StagedBlocks(dir);
    const BlockInfo* other = !staged.empty() ? &staged.front() : !committed.empty() ? &committed.front() : nullptr;
    if (other != nullptr && other->id.size() != id.size()) {
      return InvalidBlock(absl::StrCat("every block id of a blob has the same length: this blob's decode to ",
                                       other->id.size(), " bytes, this one to ", id.size()));
    }
    if (staged.size() >= kMaxUncommittedBlocks && !fs::exists(final_path)) {
      return WithAzureCode(absl::FailedPreconditionError(absl::StrCat(
                               "the blob already has ", kMaxUncommittedBlocks,
                               " uncommitted blocks; commit them (Put Block List) or delete the blob")),
                           "BlockCountExceedsLimit");
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create '", dir, "': ", ec.message()));
  }
  std::string tmp = absl::StrCat(dir, "/tmp-", TempTag());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create", tmp);
  absl::Status copied = CopyToFile(fd, tmp, size, source, nullptr);
  if (::close(fd) != 0 && copied.ok()) copied = IoError("cannot write", tmp);
  if (copied.ok() && check) copied = check();
  if (copied.ok() && ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    copied = IoError("cannot stage the block (was the blob committed or deleted meanwhile?)", final_path);
  }
  if (!copied.ok()) ::unlink(tmp.c_str());
  return copied;
}

absl::StatusOr<BlockList> LocalBlobStore::GetBlockList(const BlobRef& ref) {
  RETURN_IF_ERROR(CheckRef(ref));
  BlockList list;
  std::string base = BlobBase(ref);
  std::lock_guard<std::mutex> l(mu_);
  auto j = LoadLocked(ref);
  if (j.ok()) {
    list.blob = PropertiesFromRecord(*j);
    list.committed = ReadCommittedLocked(base);
  } else if (!absl::IsNotFound(j.status())) {
    return j.status();
  }
  list.uncommitted = StagedBlocks(base + ".blocks");
  if (!list.blob && list.uncommitted.empty()) {
    if (!fs::exists(ContainerDir(ref.account, ref.container) + "/container.json")) {
      return WithAzureCode(absl::NotFoundError(absl::StrCat("container '", ref.container, "' does not exist")),
                           "ContainerNotFound");
    }
    return WithAzureCode(absl::NotFoundError(NotFoundBlob(ref)), "BlobNotFound");
  }
  return list;
}

absl::StatusOr<BlobProperties> LocalBlobStore::CommitBlockList(const BlobRef& ref,
                                                               const std::vector<BlockListEntry>& entries,
                                                               const PutOptions& options,
                                                               const Precondition& precondition) {
  RETURN_IF_ERROR(CheckRef(ref));
  RETURN_IF_ERROR(ValidateMetadata(options.metadata, "metadata"));
  auto invalid_list = [](absl::string_view message) {
    return WithAzureCode(absl::InvalidArgumentError(message), "InvalidBlockList");
  };
  if (entries.size() > kMaxCommittedBlocks) {
    return invalid_list(absl::StrCat("a blob has at most ", kMaxCommittedBlocks, " committed blocks; this list has ",
                                     entries.size()));
  }
  if (!fs::exists(ContainerDir(ref.account, ref.container) + "/container.json")) {
    return WithAzureCode(absl::NotFoundError(absl::StrCat("container '", ref.container, "' does not exist")),
                         "ContainerNotFound");
  }
  std::string base = BlobBase(ref);
  std::string dir = base + ".blocks";
  // Where each listed block's bytes are: a descriptor (opened now, so a
  // block staged again or a blob replaced meanwhile does not change them),
  // an offset and a size.
  struct Piece {
    int fd;
    int64_t offset;
    int64_t size;
  };
  std::vector<int> fds;
  auto close_all = [&] {
    for (int fd : fds) ::close(fd);
  };
  std::vector<Piece> pieces;
  std::vector<BlockInfo> committed_now;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<BlockInfo> committed;
    int data_fd = -1;
    if (LoadLocked(ref).ok()) committed = ReadCommittedLocked(base);
    std::map<std::string, std::pair<int64_t, int64_t>> committed_at;  // id -> offset, size
    int64_t offset = 0;
    for (const auto& b : committed) {
      committed_at.emplace(b.id, std::make_pair(offset, b.size));
      offset += b.size;
    }
    std::map<std::string, std::pair<int, int64_t>> staged_fd;  // id -> fd, size
    for (const auto& e : entries) {
      bool from_staged = e.kind != BlockListEntry::Kind::kCommitted;
      if (from_staged) {
        auto it = staged_fd.find(e.id);
        if (it == staged_fd.end()) {
          std::string path = absl::StrCat(dir, "/", Hex(e.id));
          int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
          struct stat st;
          if (fd >= 0 && ::fstat(fd, &st) == 0) {
            fds.push_back(fd);
            it = staged_fd.emplace(e.id, std::make_pair(fd, static_cast<int64_t>(st.st_size))).first;
          } else if (fd >= 0) {
            ::close(fd);
          }
        }
        if (it != staged_fd.end()) {
          pieces.push_back(Piece{it->second.first, 0, it->second.second});
          committed_now.push_back(BlockInfo{e.id, it->second.second});
          continue;
        }
        if (e.kind == BlockListEntry::Kind::kUncommitted) {
          close_all();
          return invalid_list(absl::StrCat("block ", absl::Base64Escape(e.id),
                                           " is not an uncommitted block of the blob; stage it first (Put Block)"));
        }
      }
      auto c = committed_at.find(e.id);
      if (c == committed_at.end()) {
        close_all();
        return invalid_list(absl::StrCat("block ", absl::Base64Escape(e.id), " is neither ",
                                         e.kind == BlockListEntry::Kind::kCommitted ? "" : "an uncommitted nor ",
                                         "a committed block of the blob"));
      }
      if (data_fd < 0) {
        data_fd = ::open((base + ".data").c_str(), O_RDONLY | O_CLOEXEC);
        if (data_fd < 0) {
          close_all();
          return IoError("cannot open", base + ".data");
        }
        fds.push_back(data_fd);
      }
      pieces.push_back(Piece{data_fd, c->second.first, c->second.second});
      committed_now.push_back(BlockInfo{e.id, c->second.second});
    }
  }
  // Assemble, streaming.
  std::string tmp = absl::StrCat(base, ".upload-", TempTag());
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    close_all();
    return IoError("cannot create", tmp);
  }
  int64_t total = 0;
  absl::Status copied;
  for (const Piece& p : pieces) {
    int64_t pos = p.offset;
    auto source = [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
      while (true) {
        ssize_t n = ::pread(p.fd, buf, cap, pos);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return absl::InternalError(absl::StrCat("cannot read a block: ", std::strerror(errno)));
        pos += n;
        return static_cast<size_t>(n);
      }
    };
    copied = CopyToFile(out, tmp, p.size, source, nullptr);
    if (!copied.ok()) break;
    total += p.size;
  }
  close_all();
  if (::close(out) != 0 && copied.ok()) copied = IoError("cannot write", tmp);
  if (!copied.ok()) {
    ::unlink(tmp.c_str());
    return copied;
  }
  // Like Azure, a committed block list has no MD5 of its own: only the
  // x-ms-blob-content-md5 the client sent, if any.
  json record = NewRecord(ref, total, options, "");
  std::string list_text;
  for (const auto& b : committed_now) absl::StrAppend(&list_text, Hex(b.id), " ", b.size, "\n");
  std::string gone;
  absl::StatusOr<BlobProperties> props;
  {
    std::unique_lock<std::mutex> l(mu_);
    props = ReplaceLocked(l, ref, tmp, std::move(record), precondition);
    if (!props.ok()) return props;
    RETURN_IF_ERROR(WriteAtomic(base + ".blocklist", list_text));
    // The blocks left uncommitted go.
    gone = absl::StrCat(base, ".gone-", TempTag());
    if (::rename(dir.c_str(), gone.c_str()) != 0) gone.clear();
  }
  std::error_code ec;
  if (!gone.empty()) fs::remove_all(gone, ec);
  return props;
}

absl::StatusOr<BlobProperties> LocalBlobStore::SetContentHeaders(const BlobRef& ref, const PutOptions& headers) {
  RETURN_IF_ERROR(CheckRef(ref));
  std::string path = RecordPath(ref);
  std::unique_lock<std::mutex> l(mu_);
  AwaitNoReplacementLocked(l);
  ASSIGN_OR_RETURN(json j, LoadLocked(ref));
  json fresh = NewRecord(ref, j.value("size", int64_t{0}), headers, "");
  for (const char* key : {"content_type", "content_encoding", "content_language", "content_disposition",
                          "cache_control", "content_md5"}) {
    if (fresh.contains(key)) j[key] = fresh[key];
    else j.erase(key);
  }
  j["etag"] = NewEtag();
  j["last_modified_us"] = NowUs();
  return Wait<BlobProperties>([&](PropertiesCallback done) { CommitLocked(l, ref, path, std::move(j), std::move(done)); });
}

}  // namespace switchboard::blob
