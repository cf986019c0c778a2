#pragma once
// The local blob store over HTTP, as Azure's Blob service answers Azure's
// SDKs (docs/media.md lists every Blob operation, served or refused):
// Get Blob / Get Blob Properties / Get Blob Metadata (ranges, conditions,
// content headers), Put Blob, Put Block, Put Block List, Get Block List,
// Set Blob Metadata, Set Blob Properties, Set Blob Tier, Delete Blob, Copy Blob and Put Blob From URL (from a
// blob of this listener), List Blobs (prefix, delimiter, marker,
// maxresults) and Get Container Properties. Bodies are streamed between
// the connection and disk, never held whole; writes emit BlobCreated
// through `on_upload`.
//
// What an operation means (which one, its conditions, the headers stored
// and served, error codes, XML) is decided by server/http/blob_request.h,
// which touches no socket; this file answers through the HTTP server's
// Exchange (common/http/exchange.h): switchboardd's listener
// (server/http/admin_http.h) serves Route() on a worker.
//
// Access: a service SAS in the query (checked against key1 and key2), or
// anonymous reads as the container's access level allows (Blob: blobs,
// BlobContainer: blobs, listing and container properties). Writes need a
// SAS with 'w' or 'c', deletes one with 'd'.

#include <functional>
#include <string>

#include "common/http/exchange.h"
#include "common/http/request.h"
#include "common/http/server.h"
#include "server/blob/local_blob_store.h"

namespace switchboard::http {

struct BlobHttpOptions {
  // Blocks are a feature of the local store (server/blob/local_blob_store.h).
  blob::LocalBlobStore* store = nullptr;
  // Called after a successful upload, with the blob's served URL.
  std::function<void(const std::string& url, const blob::BlobProperties& props,
                     const std::string& client_request_id)>
      on_upload;
};

class BlobHttp {
 public:
  explicit BlobHttp(BlobHttpOptions options);

  // Whether a request is the blob endpoint's: its path starts with an
  // account of the store ("/<account>/...").
  bool Claims(const httpcore::Request& head) const;
  // Answers one request, reading its body and writing its answer through
  // `exchange` (blocking: on a worker).
  void Serve(httpserver::Exchange& exchange) const;
  // Claims and Serve as a streamed route of the HTTP server; `this` must
  // outlive the server.
  httpserver::StreamRoute Route() const;

 private:
  BlobHttpOptions options_;
};

}  // namespace switchboard::http
