#include "common/http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace switchboard::httpclient {

struct Client::Pool {
  size_t max_idle = 0;
  std::mutex mu;
  std::vector<CURL*> idle;  // most recently used last
};

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// What one call's callbacks share.
struct CallState {
  const Request* req = nullptr;
  Response* resp = nullptr;
  CURL* curl = nullptr;
  int64_t sent = 0;
  absl::Status source_error;
  bool sink_stopped = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<CallState*>(user);
  absl::string_view line(data, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    st->resp->headers.clear();  // a 1xx answer's headers are not the final answer's
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != absl::string_view::npos && colon > 0) {
    st->resp->headers.emplace_back(std::string(absl::StripAsciiWhitespace(line.substr(0, colon))),
                                   std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<CallState*>(user);
  const size_t len = size * n;
  long code = 0;
  curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
  if (st->req->sink && code >= 200 && code < 300) {
    if (!st->req->sink(absl::string_view(data, len))) {
      st->sink_stopped = true;
      return 0;  // aborts the transfer
    }
    return len;
  }
  std::string& body = st->resp->body;
  const size_t room = st->req->max_body > body.size() ? st->req->max_body - body.size() : 0;
  body.append(data, std::min(room, len));
  if (len > room) st->resp->body_truncated = true;
  return len;
}

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* st = static_cast<CallState*>(user);
  const int64_t declared = st->req->body_size;
  size_t cap = size * n;
  if (declared >= 0) {
    const int64_t left = declared - st->sent;
    if (left <= 0) return 0;
    cap = std::min<size_t>(cap, static_cast<size_t>(left));
  }
  auto got = st->req->body_source(buf, cap);
  if (!got.ok()) {
    st->source_error = got.status();
    return CURL_READFUNC_ABORT;
  }
  if (*got > cap) {
    st->source_error = absl::InternalError(
        absl::StrCat("the body source returned ", *got, " bytes into a buffer of ", cap));
    return CURL_READFUNC_ABORT;
  }
  if (*got == 0 && declared >= 0) {
    st->source_error = absl::InvalidArgumentError(
        absl::StrCat("the body ended after ", st->sent, " of ", declared, " bytes"));
    return CURL_READFUNC_ABORT;
  }
  st->sent += static_cast<int64_t>(*got);
  return *got;
}

long Millis(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return 0;  // curl: no limit
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

// curl's message without anything of the URL a log must not show.
std::string Scrub(std::string message, absl::string_view url) {
  const std::string redacted = RedactUrl(url);
  if (redacted == url) return message;
  message = absl::StrReplaceAll(message, {{url, redacted}});
  // Any part that was cut (a query, a fragment, user info) is cut from the
  // message too, wherever curl may have put it.
  for (char mark : {'?', '#'}) {
    auto at = url.find(mark);
    // (A part of a few characters would match words of the message.)
    if (at != absl::string_view::npos && url.size() - at - 1 >= 6) {
      message = absl::StrReplaceAll(message, {{url.substr(at + 1), "..."}});
    }
  }
  const auto scheme = url.find("://");
  if (scheme != absl::string_view::npos) {
    const size_t host = scheme + 3;
    const auto at = url.substr(0, url.find_first_of("/?#", host)).rfind('@');
    if (at != absl::string_view::npos && at >= host + 6) {
      message = absl::StrReplaceAll(message, {{url.substr(host, at - host), "..."}});
    }
  }
  return message;
}

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string Response::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

Client::Client(size_t max_idle) : pool_(std::make_unique<Pool>()) {
  GlobalInit();
  pool_->max_idle = max_idle;
}

Client::~Client() {
  for (CURL* c : pool_->idle) curl_easy_cleanup(c);
}

absl::StatusOr<Response> Client::Perform(const Request& req) const {
  const std::string where = absl::StrCat(req.method, " ", RedactUrl(req.url));
  if (!absl::StartsWithIgnoreCase(req.url, "http://") && !absl::StartsWithIgnoreCase(req.url, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": the URL must start with http:// or https://"));
  }
  std::unique_ptr<curl_slist, SlistFree> headers;
  bool has_type = false;
  for (const auto& [k, v] : req.headers) {
    if (k.empty() || k.find_first_of(":\r\n") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": header '", absl::CEscape(k), "' has a name or value that cannot be sent"));
    }
    has_type = has_type || absl::EqualsIgnoreCase(k, "content-type");
    // "Name;" is curl's way to send an empty value ("Name:" would remove it).
    const std::string line = v.empty() ? absl::StrCat(k, ";") : absl::StrCat(k, ": ", v);
    headers.reset(curl_slist_append(headers.release(), line.c_str()));
  }
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  if (!has_type) headers.reset(curl_slist_append(headers.release(), "Content-Type:"));

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
  if (!c) return absl::InternalError(absl::StrCat(where, ": curl_easy_init failed"));
  curl_easy_reset(c);  // the last call's options go; its connections stay

  Response resp;
  CallState st;
  st.req = &req;
  st.resp = &resp;
  st.curl = c;
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';
  const long timeout_ms = Millis(req.timeout);
  long connect_ms = Millis(req.connect_timeout);
  if (timeout_ms > 0 && (connect_ms == 0 || connect_ms > timeout_ms)) connect_ms = timeout_ms;
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!req.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.body_source) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &st);
    // Unknown (-1): sent chunked.
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body_size));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (!req.body.empty() || req.method == "PUT" || req.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }

  const CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  std::string detail;
  if (rc != CURLE_OK) {
    detail = curl_easy_strerror(rc);
    if (errbuf[0] != '\0' && detail != errbuf) absl::StrAppend(&detail, " (", errbuf, ")");
  }
  curl_easy_reset(c);  // nothing of this call (pointers to it) stays in the handle
  {
    std::lock_guard<std::mutex> lock(pool_->mu);
    if (pool_->idle.size() < pool_->max_idle) {
      pool_->idle.push_back(c);
      c = nullptr;
    }
  }
  if (c) curl_easy_cleanup(c);

  if (!st.source_error.ok()) return st.source_error;
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && st.sink_stopped)) {
    return absl::UnavailableError(absl::StrCat(where, ": ", Scrub(detail, req.url)));
  }
  resp.status = static_cast<int>(code);
  return resp;
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
