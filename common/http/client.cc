#include "common/http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http/curl_call.h"

namespace switchboard::httpclient {

struct Client::Pool {
  size_t max_idle = 0;
  std::mutex mu;
  std::vector<CURL*> idle;  // most recently used last
};

std::string Response::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

Client::Client(size_t max_idle) : pool_(std::make_unique<Pool>()) {
  internal::GlobalInit();
  pool_->max_idle = max_idle;
}

Client::~Client() {
  for (CURL* c : pool_->idle) curl_easy_cleanup(c);
}

absl::StatusOr<Response> Client::Perform(const Request& req) const {
  internal::CurlCall call(req);
  if (absl::Status checked = call.Check(); !checked.ok()) return checked;

  // Borrow an idle handle (and its connections), or make one.
  CURL* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_->mu);
    if (!pool_->idle.empty()) {
      c = pool_->idle.back();
      pool_->idle.pop_back();
    }
  }
  if (!c) c = curl_easy_init();
  if (!c) return absl::InternalError(absl::StrCat(call.where(), ": curl_easy_init failed"));
  curl_easy_reset(c);  // the last call's options go; its connections stay
  call.Apply(c);
  absl::StatusOr<Response> result = call.Finish(c, curl_easy_perform(c));
  curl_easy_reset(c);  // nothing of this call (pointers to it) stays in the handle
  {
    std::lock_guard<std::mutex> lock(pool_->mu);
    if (pool_->idle.size() < pool_->max_idle) {
      pool_->idle.push_back(c);
      c = nullptr;
    }
  }
  if (c) curl_easy_cleanup(c);
  return result;
}

const Client& SharedClient() {
  static const Client* shared = new Client(64);
  return *shared;
}

std::string RedactUrl(absl::string_view url) {
  const size_t scheme = url.find("://");
  size_t host = scheme == absl::string_view::npos ? 0 : scheme + 3;
  const size_t end = url.find_first_of("?#", host);
  absl::string_view kept = url.substr(0, end);
  // User info ("user:password@") sits between the scheme and the host.
  const size_t authority_end = kept.find('/', host);
  const size_t at = kept.substr(0, authority_end).rfind('@');
  if (scheme != absl::string_view::npos && at != absl::string_view::npos && at >= host) {
    return absl::StrCat(kept.substr(0, host), kept.substr(at + 1));
  }
  return std::string(kept);
}

int64_t RetryAfterSeconds(absl::string_view value, absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  int64_t secs = 0;
  if (absl::SimpleAtoi(value, &secs)) return std::max<int64_t>(0, secs);
  const std::string date(value);
  const time_t when = curl_getdate(date.c_str(), nullptr);
  if (when <= 0) return -1;
  return std::max<int64_t>(0, static_cast<int64_t>(when) - absl::ToUnixSeconds(now));
}

}  // namespace switchboard::httpclient
