#pragma once
// The local blob store over HTTP, as Azure's Blob service answers Azure's
// SDKs (docs/media.md lists every Blob operation, served or refused):
// Get Blob / Get Blob Properties / Get Blob Metadata (ranges, conditions,
// content headers), Put Blob, Put Block, Put Block List, Get Block List,
// Set Blob Metadata, Set Blob Properties, Set Blob Tier, Delete Blob, Copy Blob and Put Blob From URL (from a
// blob of this listener), List Blobs (prefix, delimiter, marker,
// maxresults) and Get Container Properties. Bodies are streamed to disk;
// writes emit BlobCreated through `on_upload`.
//
// What an operation means (which one, its conditions, the headers stored
// and served, error codes, XML) is decided by server/http/blob_request.h,
// which touches no socket; this file reads and writes the connection.
//
// Access: a service SAS in the query (checked against key1 and key2), or
// anonymous reads as the container's access level allows (Blob: blobs,
// BlobContainer: blobs, listing and container properties). Writes need a
// SAS with 'w' or 'c', deletes one with 'd'.
// Connections are taken from the admin listener (RawHook) and served on
// this class's own threads, one request per connection.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/http/request.h"
#include "server/http/conn.h"
#include "server/blob/local_blob_store.h"

namespace switchboard::http {

struct BlobHttpOptions {
  // Blocks are a feature of the local store (server/blob/local_blob_store.h).
  blob::LocalBlobStore* store = nullptr;
  // Called after a successful upload, with the blob's served URL.
  std::function<void(const std::string& url, const blob::BlobProperties& props,
                     const std::string& client_request_id)>
      on_upload;
  int threads = 4;
};

class BlobHttp {
 public:
  explicit BlobHttp(BlobHttpOptions options);
  ~BlobHttp();

  // The RawHook: takes connections whose path starts with an account of
  // the store (moving the head and the body bytes read with it).
  bool Claim(std::unique_ptr<Conn>& conn, httpcore::Request& head, std::string& body_start);
  void Stop();

 private:
  void Loop();
  struct Job {
    std::unique_ptr<Conn> conn;
    httpcore::Request request;
    std::string body_start;
  };
  void Serve(Conn& conn, const httpcore::Request& request, std::string body_start);

  BlobHttpOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace switchboard::http
