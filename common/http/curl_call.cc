#include "common/http/curl_call.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace switchboard::httpclient::internal {
namespace {

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

}  // namespace

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlCall::CurlCall(const Request& req) : req_(req), where_(absl::StrCat(req.method, " ", RedactUrl(req.url))) {
  errbuf_[0] = '\0';
}

absl::Status CurlCall::Check() {
  if (!absl::StartsWithIgnoreCase(req_.url, "http://") && !absl::StartsWithIgnoreCase(req_.url, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(where_, ": the URL must start with http:// or https://"));
  }
  if (!req_.owned_body.empty() && (!req_.body.empty() || req_.body_source)) {
    return absl::InvalidArgumentError(absl::StrCat(where_, ": give one body: owned_body, body or body_source"));
  }
  bool has_type = false;
  for (const auto& [k, v] : req_.headers) {
    if (k.empty() || k.find_first_of(":\r\n") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where_, ": header '", absl::CEscape(k), "' has a name or value that cannot be sent"));
    }
    has_type = has_type || absl::EqualsIgnoreCase(k, "content-type");
    // "Name;" is curl's way to send an empty value ("Name:" would remove it).
    const std::string line = v.empty() ? absl::StrCat(k, ";") : absl::StrCat(k, ": ", v);
    headers_.reset(curl_slist_append(headers_.release(), line.c_str()));
  }
  headers_.reset(curl_slist_append(headers_.release(), "Expect:"));
  if (!has_type) headers_.reset(curl_slist_append(headers_.release(), "Content-Type:"));
  return absl::OkStatus();
}

void CurlCall::Apply(CURL* c) {
  curl_ = c;
  const long timeout_ms = Millis(req_.timeout);
  long connect_ms = Millis(req_.connect_timeout);
  if (timeout_ms > 0 && (connect_ms == 0 || connect_ms > timeout_ms)) connect_ms = timeout_ms;
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(c, CURLOPT_URL, req_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!req_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req_.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get());
  const absl::string_view body = req_.owned_body.empty() ? req_.body : absl::string_view(req_.owned_body);
  if (req_.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req_.body_source) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, this);
    // Unknown (-1): sent chunked.
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req_.body_size));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req_.method.c_str());
  } else if (req_.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req_.method.c_str());
    if (!body.empty() || req_.method == "PUT" || req_.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  }
}

absl::StatusOr<Response> CurlCall::Finish(CURL* c, CURLcode rc) {
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (!source_error_.ok()) return source_error_;
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && sink_stopped_)) {
    std::string detail = curl_easy_strerror(rc);
    if (errbuf_[0] != '\0' && detail != errbuf_) absl::StrAppend(&detail, " (", errbuf_, ")");
    return absl::UnavailableError(absl::StrCat(where_, ": ", Scrub(detail, req_.url)));
  }
  resp_.status = static_cast<int>(code);
  return std::move(resp_);
}

size_t CurlCall::OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<CurlCall*>(user);
  absl::string_view line(data, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    st->resp_.headers.clear();  // a 1xx answer's headers are not the final answer's
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != absl::string_view::npos && colon > 0) {
    st->resp_.headers.emplace_back(std::string(absl::StripAsciiWhitespace(line.substr(0, colon))),
                                   std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return size * n;
}

size_t CurlCall::OnBody(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<CurlCall*>(user);
  const size_t len = size * n;
  long code = 0;
  curl_easy_getinfo(st->curl_, CURLINFO_RESPONSE_CODE, &code);
  if (st->req_.sink && code >= 200 && code < 300) {
    if (!st->req_.sink(absl::string_view(data, len))) {
      st->sink_stopped_ = true;
      return 0;  // aborts the transfer
    }
    return len;
  }
  std::string& body = st->resp_.body;
  const size_t room = st->req_.max_body > body.size() ? st->req_.max_body - body.size() : 0;
  body.append(data, std::min(room, len));
  if (len > room) st->resp_.body_truncated = true;
  return len;
}

size_t CurlCall::OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* st = static_cast<CurlCall*>(user);
  const int64_t declared = st->req_.body_size;
  size_t cap = size * n;
  if (declared >= 0) {
    const int64_t left = declared - st->sent_;
    if (left <= 0) return 0;
    cap = std::min<size_t>(cap, static_cast<size_t>(left));
  }
  auto got = st->req_.body_source(buf, cap);
  if (!got.ok()) {
    st->source_error_ = got.status();
    return CURL_READFUNC_ABORT;
  }
  if (*got > cap) {
    st->source_error_ = absl::InternalError(
        absl::StrCat("the body source returned ", *got, " bytes into a buffer of ", cap));
    return CURL_READFUNC_ABORT;
  }
  if (*got == 0 && declared >= 0) {
    st->source_error_ = absl::InvalidArgumentError(
        absl::StrCat("the body ended after ", st->sent_, " of ", declared, " bytes"));
    return CURL_READFUNC_ABORT;
  }
  st->sent_ += static_cast<int64_t>(*got);
  return *got;
}

}  // namespace switchboard::httpclient::internal
