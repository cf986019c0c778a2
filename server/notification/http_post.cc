#include "server/notification/http_post.h"

#include <curl/curl.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace switchboard::notification {
namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  absl::string_view line(data, size * n);
  if (absl::StartsWithIgnoreCase(line, "retry-after:")) {
    absl::string_view v = absl::StripAsciiWhitespace(line.substr(strlen("retry-after:")));
    auto* out = static_cast<int64_t*>(user);
    int64_t secs = 0;
    if (absl::SimpleAtoi(v, &secs)) {
      *out = secs < 0 ? 0 : secs;
    } else {
      std::string date(v);
      time_t when = curl_getdate(date.c_str(), nullptr);
      if (when > 0) *out = std::max<int64_t>(0, when - absl::ToUnixSeconds(absl::Now()));
    }
  }
  return size * n;
}

}  // namespace

PostResult HttpPost(const std::string& url, const std::vector<std::string>& headers, const std::string& body,
                    absl::Duration timeout, const std::string& ca_file) {
  static CurlGlobal global;
  thread_local std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  CURL* c = easy.get();
  curl_easy_reset(c);
  PostResult result;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  const long timeout_ms = static_cast<long>(absl::ToInt64Milliseconds(timeout));
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 5000L));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &result.retry_after_seconds);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "switchboard-webhooks/1");
  const absl::Time start = absl::Now();
  CURLcode rc = curl_easy_perform(c);
  result.latency = absl::Now() - start;
  if (rc == CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    result.status_code = static_cast<int>(code);
  } else {
    result.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(list);
  return result;
}

}  // namespace switchboard::notification
