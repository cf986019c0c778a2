#pragma once
// One HTTP POST of a webhook delivery, through the one HTTP client
// (common/http/client.h). Connections to a receiver are reused (keep-alive)
// across deliveries: the deliveries share a client that keeps one idle
// connection handle per delivery worker. Redirects are not followed.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

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

// `headers` are "Name: value" lines. `ca_file`: a PEM CA file https://
// receivers are verified against (empty: the system's CAs). The certificate
// and host name are always verified.
PostResult HttpPost(const std::string& url, const std::vector<std::string>& headers, const std::string& body,
                    absl::Duration timeout, const std::string& ca_file = "");

}  // namespace switchboard::notification
