#pragma once
// Blob URIs to (store, account, container, blob).
//
// Accepted forms:
//   https://<account>.blob.core.windows.net/<container>/<blob>   (Azure's;
//       mapped to whichever store serves <account>)
//   http://<host:port>/<account>/<container>/<blob>   where host:port is
//       the local blob listener or a configured (path-style) endpoint
// A query string (a SAS) is ignored. Anything else is INVALID_ARGUMENT
// naming the field.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/blob/blob_store.h"

namespace switchboard::media {

struct ResolvedBlob {
  blob::BlobStore* store = nullptr;
  blob::BlobRef ref;  // ref.name empty for a container
};

class BlobRouter {
 public:
  // `hosts` are the host:port forms that address this store path-style.
  void Add(blob::BlobStore* store, std::vector<std::string> hosts);
  // Host:port of the local listener, asked each time (known after start).
  void SetLocalHost(std::function<std::string()> host) { local_host_ = std::move(host); }

  absl::StatusOr<ResolvedBlob> ResolveBlob(absl::string_view uri, absl::string_view field) const;
  // "https://.../<container>" with or without a trailing '/'.
  absl::StatusOr<ResolvedBlob> ResolveContainer(absl::string_view uri, absl::string_view field) const;
  absl::StatusOr<blob::BlobStore*> StoreFor(absl::string_view account, absl::string_view field) const;
  std::vector<blob::BlobStore*> stores() const;

 private:
  absl::StatusOr<ResolvedBlob> Resolve(absl::string_view uri, absl::string_view field, bool container) const;
  struct Entry {
    blob::BlobStore* store;
    std::vector<std::string> hosts;
  };
  std::vector<Entry> entries_;
  std::function<std::string()> local_host_;
};

}  // namespace switchboard::media
