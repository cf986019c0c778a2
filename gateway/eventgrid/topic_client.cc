#include "gateway/eventgrid/topic_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace switchboard::gateway::eventgrid {

namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (s->size() < 4096) s->append(data, std::min(size * n, 4096 - s->size()));
  return size * n;
}

struct CurlInit {
  CurlInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

}  // namespace

bool IsRetryableHttp(int status) { return status == 0 || status == 408 || status == 429 || status >= 500; }

TopicClient::TopicClient(TopicOptions options) : options_(std::move(options)) {
  static CurlInit init;
}

TopicClient::~TopicClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* TopicClient::Borrow() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void TopicClient::Return(void* handle) const {
  // At most a few connections stay open: as many as POSTs ran at once.
  constexpr size_t kMaxIdle = 8;
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdle) {
    idle_.push_back(handle);
    return;
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

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
  CURL* curl = static_cast<CURL*>(Borrow());
  if (!curl) {
    r.error = "curl_easy_init failed";
    return r;
  }
  curl_easy_reset(curl);  // options from the last use go; the connection stays
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string key_header = absl::StrCat("aeg-sas-key: ", options_.key);
  headers = curl_slist_append(headers, key_header.c_str());
  headers = curl_slist_append(headers, "Expect:");
  std::string answer;
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.attempt_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(options_.attempt_timeout.count(), 5000)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    r.error = curl_easy_strerror(rc);
  } else {
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    r.http_status = static_cast<int>(code);
    r.error = answer;
  }
  curl_slist_free_all(headers);
  Return(curl);
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
