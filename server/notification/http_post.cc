#include "server/notification/http_post.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/http/async_client.h"

namespace switchboard::notification {

void HttpPost(httpclient::AsyncClient& client, const std::string& url,
              std::vector<std::pair<std::string, std::string>> headers, std::string body, absl::Duration timeout,
              const std::string& ca_file, PostDone done) {
  httpclient::Request req;
  req.method = "POST";
  req.url = url;
  req.headers = std::move(headers);
  req.headers.emplace_back("User-Agent", "switchboard-webhooks/1");
  req.owned_body = std::move(body);
  req.max_body = 0;  // the receiver's answer body is not kept
  req.timeout = timeout;
  req.connect_timeout = std::min(timeout, absl::Seconds(5));
  req.ca_file = ca_file;
  const absl::Time start = absl::Now();
  client.Start(std::move(req), [start, done = std::move(done)](absl::StatusOr<httpclient::Response> answer) {
    PostResult result;
    result.latency = absl::Now() - start;
    if (!answer.ok()) {
      result.error = std::string(answer.status().message());
    } else {
      result.status_code = answer->status;
      const std::string retry_after = answer->Header("retry-after");
      if (!retry_after.empty()) result.retry_after_seconds = httpclient::RetryAfterSeconds(retry_after, absl::Now());
    }
    done(std::move(result));
  });
}

}  // namespace switchboard::notification
