#pragma once
// POSTs arrays of events to an Event Grid topic endpoint with the
// `aeg-sas-key` header, through the one HTTP client (common/http/client.h). Retries 5xx, 429 and network errors with
// exponential backoff (capped), up to a deadline; other answers are final.

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/http/client.h"
#include "gateway/eventgrid/event.h"
#include "gateway/eventgrid/outage_log.h"
#include "gateway/eventgrid/topic_limits.h"

namespace switchboard::gateway::eventgrid {

struct TopicOptions {
  std::string url;
  std::string key;
  // PEM CA file for an https:// url; empty: the system's CAs. The
  // certificate and host name are always verified.
  std::string ca_file;
  std::chrono::milliseconds attempt_timeout{10000};
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  // What one POST may hold: every path splits its events within these
  // (outbound.h), clamped to Event Grid's 1 MB and 100 events.
  TopicLimits limits;
};

struct PostResult {
  int http_status = 0;  // 0: no answer (network error)
  std::string error;    // why no answer came (curl's message), or the answer body
  int attempts = 0;
};

// Connections are kept open between POSTs (HTTP keep-alive; for an https
// topic, no TLS handshake per POST): the client keeps its own idle
// connections, as many as POSTs ran at once (at most 8), and closes them
// when it goes. Safe to use from several threads.
class TopicClient {
 public:
  explicit TopicClient(TopicOptions options);
  ~TopicClient();
  TopicClient(const TopicClient&) = delete;
  TopicClient& operator=(const TopicClient&) = delete;

  // One POST of a JSON body; no retries. A body over Event Grid's 1 MB
  // (kTopicMaxBodyBytes) is never sent: the result is a 413 (final) that
  // says so, without a request.
  PostResult PostOnce(const std::string& body) const;

  // POSTs until a 2xx, a final answer (4xx other than 408/429), `deadline`
  // passes, or `*stop` becomes true (may be null). OK on 2xx; UNAVAILABLE
  // when retries ran out; INVALID_ARGUMENT with the answer for a final 4xx.
  // Each retryable failure and each answer is reported to `outage` (may be
  // null), which logs the outage with backoff.
  absl::Status Post(const std::string& body, std::chrono::steady_clock::time_point deadline,
                    const std::atomic<bool>* stop = nullptr, PostResult* last = nullptr,
                    OutageLog* outage = nullptr) const;

  // Serializes events as one JSON array, without limits: what is POSTed is
  // split by outbound.h's SplitForTopic / TopicBatch instead.
  static std::string Encode(const std::vector<Event>& events);

  const TopicOptions& options() const { return options_; }

 private:
  TopicOptions options_;
  httpclient::Client http_;
};

// True for the answers worth retrying: no answer, 408, 429 and 5xx.
bool IsRetryableHttp(int status);

}  // namespace switchboard::gateway::eventgrid
