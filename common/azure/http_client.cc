#include "common/azure/http_client.h"

#include <curl/curl.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::azure {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CallState {
  const HttpRequest* req = nullptr;
  HttpResponse* resp = nullptr;
  CURL* curl = nullptr;
  int64_t sent = 0;
  absl::Status source_error;
  bool sink_stopped = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<CallState*>(user);
  absl::string_view line(data, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    st->resp->headers.clear();  // a 100 Continue or redirect starts over
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != absl::string_view::npos) {
    std::string raw(absl::StripAsciiWhitespace(line.substr(0, colon)));
    std::string name = absl::AsciiStrToLower(raw);
    // Metadata names keep their case (Azure preserves it).
    if (absl::StartsWith(name, "x-ms-meta-")) name = "x-ms-meta-" + raw.substr(10);
    st->resp->headers[name] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<CallState*>(user);
  long code = 0;
  curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
  if (st->req->sink && code >= 200 && code < 300) {
    if (!st->req->sink(absl::string_view(data, size * n))) {
      st->sink_stopped = true;
      return 0;  // aborts the transfer
    }
  } else if (st->resp->body.size() < (1 << 20)) {
    st->resp->body.append(data, size * n);
  }
  return size * n;
}

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* st = static_cast<CallState*>(user);
  int64_t left = st->req->body_size - st->sent;
  if (left <= 0) return 0;
  size_t cap = std::min<size_t>(size * n, static_cast<size_t>(left));
  auto got = st->req->body_source(buf, cap);
  if (!got.ok()) {
    st->source_error = got.status();
    return CURL_READFUNC_ABORT;
  }
  if (*got == 0) {
    st->source_error = absl::InvalidArgumentError(
        absl::StrCat("the body ended after ", st->sent, " of ", st->req->body_size, " bytes"));
    return CURL_READFUNC_ABORT;
  }
  st->sent += static_cast<int64_t>(*got);
  return *got;
}

}  // namespace

absl::StatusOr<HttpResponse> PerformHttp(const HttpRequest& req) {
  GlobalInit();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  HttpResponse resp;
  CallState st;
  st.req = &req;
  st.resp = &resp;
  st.curl = curl.get();
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  if (!req.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req.timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");

  struct curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers) headers = curl_slist_append(headers, absl::StrCat(k, ": ", v).c_str());
  headers = curl_slist_append(headers, "Expect:");
  bool has_type = false;
  for (const auto& h : req.headers) has_type = has_type || absl::EqualsIgnoreCase(h.first, "content-type");
  // Otherwise curl adds a form content type to bodies, which SharedKey signs.
  if (!has_type) headers = curl_slist_append(headers, "Content-Type:");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers, curl_slist_free_all);

  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.body_source) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &st);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body_size));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (!req.body.empty() || req.method == "PUT" || req.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  if (!st.source_error.ok()) return st.source_error;
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && st.sink_stopped)) {
    return absl::UnavailableError(absl::StrCat(req.method, " ", req.url, ": ", curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

}  // namespace switchboard::azure
