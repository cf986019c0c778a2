#include "server/notification/http_post.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "common/http/client.h"

namespace switchboard::notification {

PostResult HttpPost(const std::string& url, const std::vector<std::string>& headers, const std::string& body,
                    absl::Duration timeout, const std::string& ca_file) {
  // As many idle handles as webhook_workers may be (config.cc: at most 256).
  static const httpclient::Client* client = new httpclient::Client(256);
  httpclient::Request req;
  req.method = "POST";
  req.url = url;
  for (const std::string& h : headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos) continue;
    req.headers.emplace_back(absl::StripAsciiWhitespace(h.substr(0, colon)),
                             absl::StripAsciiWhitespace(h.substr(colon + 1)));
  }
  req.headers.emplace_back("User-Agent", "switchboard-webhooks/1");
  req.body = body;
  req.max_body = 0;  // the receiver's answer body is not kept
  req.timeout = timeout;
  req.connect_timeout = std::min(timeout, absl::Seconds(5));
  req.ca_file = ca_file;
  PostResult result;
  const absl::Time start = absl::Now();
  auto answer = client->Perform(req);
  result.latency = absl::Now() - start;
  if (!answer.ok()) {
    result.error = std::string(answer.status().message());
    return result;
  }
  result.status_code = answer->status;
  const std::string retry_after = answer->Header("retry-after");
  if (!retry_after.empty()) result.retry_after_seconds = httpclient::RetryAfterSeconds(retry_after, absl::Now());
  return result;
}

}  // namespace switchboard::notification
