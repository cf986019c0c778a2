#pragma once
// One request of a streamed route (common/http/server.h, StreamRoute): its
// head, its body read piece by piece, and its answer written piece by piece,
// so that an upload or a download of gigabytes never sits in memory.
//
// The calls block the calling thread (a worker) until the connection's I/O
// thread has done the work; each waits at most the route's `io_timeout`,
// after which the connection is closed and the call fails. A client that
// stalls therefore frees the worker within that time.

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/http/request.h"
#include "common/http/response.h"

namespace switchboard::httpserver {

class Exchange {
 public:
  virtual ~Exchange() = default;

  // The request's head; its body is empty (ReadBody reads it).
  virtual const httpcore::Request& request() const = 0;

  // Up to `cap` bytes of the request body (chunked bodies are decoded); 0
  // once it has all been read. The first call answers "Expect:
  // 100-continue" with "100 Continue". Errors: DEADLINE_EXCEEDED when the
  // client sent nothing for io_timeout, INVALID_ARGUMENT for a malformed
  // chunked body or one past the route's body_limit, UNAVAILABLE when the
  // client closed the connection first.
  virtual absl::StatusOr<size_t> ReadBody(char* buf, size_t cap) = 0;

  // The status line and `headers`, with Content-Length: `content_length`.
  // For HEAD, `content_length` is what a GET would send and no body
  // follows. Once per request. False when the client is gone or the write
  // timed out.
  virtual bool WriteHead(int status, const Headers& headers, int64_t content_length) = 0;
  // The next piece of the body after WriteHead; false as WriteHead does, or
  // when the pieces would go past content_length.
  virtual bool WriteBody(absl::string_view piece) = 0;

  // A whole answer: WriteHead with its Content-Type, then its body (none
  // for HEAD).
  bool Respond(const Response& response);
};

}  // namespace switchboard::httpserver
