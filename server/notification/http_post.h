#pragma once
// One HTTP POST of a webhook delivery, through the event-loop HTTP client
// (common/http/async_client.h): no thread waits for the answer.
// Connections to a receiver are reused (keep-alive) across deliveries: the
// deliveries share the client's connection cache. Redirects are not
// followed.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace switchboard::httpclient {
class AsyncClient;
}  // namespace switchboard::httpclient

namespace switchboard::notification {

struct PostResult {
  // 0 when no HTTP answer came (refused, unreachable, timed out).
  int status_code = 0;
  absl::Duration latency;
  // Why no answer came, when status_code is 0: the URL without its query
  // and libcurl's message.
  std::string error;
  // Retry-After in seconds (either form of the header), or -1 if absent.
  int64_t retry_after_seconds = -1;
};

// Runs on the client's loop thread: must not block.
using PostDone = std::function<void(PostResult)>;

// Starts the POST of `body` to `url` on `client`; `done` gets its result.
// `headers`: (name, value), sent as given. `ca_file`: a PEM CA file https://
// receivers are verified against (empty: the system's CAs). The
// certificate and host name are always verified.
void HttpPost(httpclient::AsyncClient& client, const std::string& url,
              std::vector<std::pair<std::string, std::string>> headers, std::string body, absl::Duration timeout,
              const std::string& ca_file, PostDone done);

}  // namespace switchboard::notification
