#pragma once
// The local blob store over HTTP, as Azure's Blob service answers it:
//
//   GET/HEAD /<account>/<container>/<blob>     Range / x-ms-range, ETag,
//            Last-Modified, x-ms-meta-*, x-ms-access-tier
//   GET      /<account>/<container>?restype=container&comp=list   (XML)
//   PUT      /<account>/<container>/<blob>     Put Blob (BlockBlob), body
//            streamed to disk; emits BlobCreated through `on_upload`
//
// Access: a service SAS in the query (checked against key1 and key2), or
// anonymous reads as the container's access level allows (Blob: blobs,
// BlobContainer: blobs and listing). Writes need a SAS with 'w' or 'c'.
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
#include "server/blob/blob_store.h"

namespace switchboard::http {

struct BlobHttpOptions {
  blob::BlobStore* store = nullptr;
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
  bool Claim(int fd, httpcore::Request& head, std::string& body_start);
  void Stop();

 private:
  void Loop();
  struct Job {
    int fd = -1;
    httpcore::Request request;
    std::string body_start;
  };
  void Serve(int fd, const httpcore::Request& request, std::string body_start);

  BlobHttpOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace switchboard::http
