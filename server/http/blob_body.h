#pragma once
// The body of a blob upload (Put Blob, Put Block, Put Block List), read from
// the request's Exchange (common/http/exchange.h) as the store pulls it.
// Hashes what passes when the request sent Content-MD5 /
// x-ms-content-crc64, and checks them once the whole body has been read.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/http/exchange.h"
#include "server/blob/blob_store.h"
#include "server/http/blob_request.h"

namespace switchboard::http {

class BlobBody {
 public:
  explicit BlobBody(httpserver::Exchange& exchange);

  absl::StatusOr<size_t> Read(char* buf, size_t cap);
  // Read as a store's ChunkSource.
  blob::ChunkSource Source();
  // Once the whole body has been read: Md5Mismatch / Crc64Mismatch when a
  // hash was sent and the body does not match it.
  absl::Status CheckHashes();
  // The whole body in memory (a block list: at most 8 MiB).
  absl::StatusOr<std::string> ReadAll(int64_t size);
  // Whether a Content-MD5 sent was checked and matched.
  bool AddsMd5() const { return md5_ok_; }
  // Headers echoing the hashes checked.
  void AddHashHeaders(Headers* h) const;

 private:
  httpserver::Exchange& exchange_;
  std::string md5_sent_, crc64_sent_;
  std::optional<blob::Md5Stream> md5_;
  bool md5_ok_ = false;
  uint64_t crc64_ = 0;
};

}  // namespace switchboard::http
