#pragma once
// The one HTTP client of every outbound call: Azure Storage REST
// (common/azure/http_client.h), webhook deliveries
// (server/notification/http_post.h) and Event Grid topic POSTs
// (gateway/eventgrid/topic_client.h). libcurl, blocking: Perform returns
// when the answer is in, or when the call failed.
//
// - Request bodies from a buffer or streamed from a source; 2xx response
//   bodies collected or streamed to a sink.
// - A connect timeout and a timeout of the whole call.
// - TLS is always verified (certificate and host name), against a given PEM
//   CA file or the system's CAs. There is no switch to turn it off.
// - Connections are reused: a Client keeps its idle curl handles, each with
//   its open connections (and TLS sessions), and lends one to each call.
// - Errors name the method and the URL without its query (a SAS token's
//   signature must never reach an error or a log), and say what curl said.
// Redirects are not followed; only http:// and https:// URLs are accepted.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::httpclient {

// Fills up to `cap` bytes of `buf` with the next piece of a streamed request
// body and returns how many; an error stops the call and is returned by
// Perform as it is.
using BodySource = std::function<absl::StatusOr<size_t>(char* buf, size_t cap)>;
// Takes the next piece of a streamed response body; false stops the
// transfer (Perform still returns the answer's status and headers).
using BodySink = std::function<bool(absl::string_view piece)>;

struct Request {
  std::string method = "GET";
  std::string url;
  // Sent as given. Without a Content-Type none is sent (curl would add a
  // form type to a body, which a SharedKey signature covers). No
  // "Expect: 100-continue" round trip is made.
  std::vector<std::pair<std::string, std::string>> headers;
  // The body: either `body` (not copied: it must outlive Perform),
  // `owned_body` (held by the request itself: what an AsyncClient call
  // wants, async_client.h), or bytes read from `body_source`: exactly
  // `body_size` of them when that is 0 or more (a source that ends early
  // fails the call), or until the source returns 0 when it is -1 (sent
  // chunked). Giving more than one is INVALID_ARGUMENT.
  absl::string_view body;
  std::string owned_body;
  BodySource body_source;
  int64_t body_size = -1;
  // A 2xx answer's body goes to `sink` as it arrives, if set. Any other
  // body is kept in Response::body, up to `max_body` bytes (the rest is
  // dropped: Response::body_truncated).
  BodySink sink;
  size_t max_body = 1 << 20;
  // Connecting (TCP and TLS) may take at most `connect_timeout`, the whole
  // call at most `timeout` (connect_timeout is capped by it).
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration timeout = absl::Minutes(2);
  // A PEM file of the CAs to trust for https:// URLs; empty: the system's.
  std::string ca_file;
};

struct Response {
  int status = 0;
  // The final answer's headers, in order, names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool body_truncated = false;
  // The first header called `name` (in any case), or "".
  std::string Header(absl::string_view name) const;
};

class Client {
 public:
  // Keeps at most `max_idle` idle handles (and their connections) between
  // calls: as many as calls run at once is enough.
  explicit Client(size_t max_idle = 16);
  // Calls still running must have returned.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The answer, whatever its status. UNAVAILABLE when no answer came
  // (refused, unreachable, TLS refused, timed out, cut off):
  // "POST https://host/path: <curl's message>". A body source's error is
  // returned as it is. INVALID_ARGUMENT for a URL that is not http(s).
  // Safe to call from several threads.
  absl::StatusOr<Response> Perform(const Request& request) const;

 private:
  struct Pool;
  std::unique_ptr<Pool> pool_;
};

// A client for callers without one of their own; never destroyed.
const Client& SharedClient();

// `url` without its user info, query and fragment: what errors and logs may
// show. "https://a.blob.core.windows.net/c/b?sv=...&sig=..." ->
// "https://a.blob.core.windows.net/c/b".
std::string RedactUrl(absl::string_view url);

// A Retry-After value (delay-seconds or an HTTP date) as seconds from `now`,
// never negative; -1 when it is neither.
int64_t RetryAfterSeconds(absl::string_view value, absl::Time now);

}  // namespace switchboard::httpclient
