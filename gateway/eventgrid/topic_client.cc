#include "gateway/eventgrid/topic_client.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace switchboard::gateway::eventgrid {

bool IsRetryableHttp(int status) { return status == 0 || status == 408 || status == 429 || status >= 500; }

// At most a few connections stay open: as many as POSTs ran at once.
TopicClient::TopicClient(TopicOptions options) : options_(std::move(options)), http_(/*max_idle=*/8) {}

TopicClient::~TopicClient() = default;

std::string TopicClient::Encode(const std::vector<Event>& events) {
  return absl::StrCat("[", absl::StrJoin(events, ",", [](std::string* out, const Event& e) { *out += Serialize(e); }),
                      "]");
}

PostResult TopicClient::PostOnce(const std::string& body) const {
  PostResult r;
  r.attempts = 1;
  if (body.size() > kTopicMaxBodyBytes) {
    // The splitter keeps every body within the limit; this is the last line.
    r.http_status = 413;
    r.error = absl::StrCat("not sent: a body of ", body.size(), " bytes is over Event Grid's limit of ",
                           kTopicMaxBodyBytes);
    return r;
  }
  httpclient::Request req;
  req.method = "POST";
  req.url = options_.url;
  req.headers = {{"Content-Type", "application/json"}, {"aeg-sas-key", options_.key}};
  req.body = body;
  req.max_body = 4096;  // enough of an error answer to say what it was
  req.timeout = absl::FromChrono(options_.attempt_timeout);
  req.connect_timeout = std::min(req.timeout, absl::Seconds(5));
  req.ca_file = options_.ca_file;
  auto answer = http_.Perform(req);
  if (!answer.ok()) {
    r.error = std::string(answer.status().message());
  } else {
    r.http_status = answer->status;
    r.error = std::move(answer->body);
  }
  return r;
}

absl::Status TopicClient::Post(const std::string& body, std::chrono::steady_clock::time_point deadline,
                               const std::atomic<bool>* stop, PostResult* last, OutageLog* outage) const {
  thread_local std::mt19937 rng{std::random_device{}()};
  auto backoff = options_.initial_backoff;
  int attempts = 0;
  PostResult r;
  for (;;) {
    r = PostOnce(body);
    r.attempts = ++attempts;
    if (last) *last = r;
    if (r.http_status >= 200 && r.http_status < 300) {
      if (outage) outage->Succeeded();
      return absl::OkStatus();
    }
    if (!IsRetryableHttp(r.http_status)) {
      if (outage) outage->Succeeded();  // it answered: reachable, though it refused
      return absl::InvalidArgumentError(
          absl::StrCat("topic answered ", r.http_status, " (not retried): ", r.error.substr(0, 300)));
    }
    if (outage) {
      outage->Failed(r.http_status ? absl::StrCat("HTTP ", r.http_status, ": ", r.error.substr(0, 200)) : r.error);
    }
    // Full jitter, capped.
    auto wait = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(backoff.count() / 2, backoff.count())(rng));
    if (std::chrono::steady_clock::now() + wait > deadline || (stop && stop->load())) break;
    auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until && !(stop && stop->load())) {
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(20), wait));
    }
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
  return absl::UnavailableError(absl::StrCat("topic unreachable after ", attempts, " attempts: ",
                                             r.http_status ? absl::StrCat("HTTP ", r.http_status) : r.error));
}

}  // namespace switchboard::gateway::eventgrid
