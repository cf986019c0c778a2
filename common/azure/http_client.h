#pragma once
// Azure Storage REST calls in the shape the Azure code uses (header names
// lower-cased the way Azure's responses are read), over the one HTTP client
// of common/http/client.h: streamed request bodies, streamed response
// bodies, connections reused, TLS always verified, SAS queries never in
// errors. The caller picks the URL.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::azure {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  // Request body: either `body`, or `body_size` bytes from `body_source`.
  std::string body;
  int64_t body_size = -1;
  std::function<absl::StatusOr<size_t>(char* buf, size_t cap)> body_source;
  // For 2xx answers, the body goes here as it arrives (if set); otherwise
  // it is collected into HttpResponse::body.
  std::function<bool(absl::string_view piece)> sink;
  long timeout_ms = 120000;
  // PEM CA file for https:// URLs; empty: the system's CAs.
  std::string ca_file;
};

struct HttpResponse {
  long status = 0;
  // Lower-case names, except that x-ms-meta-<name> keeps <name>'s case.
  std::map<std::string, std::string> headers;
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// UNAVAILABLE when the endpoint cannot be reached (the message names the
// URL without its query); a body source's error is returned as it is. HTTP
// error statuses are returned as responses.
absl::StatusOr<HttpResponse> PerformHttp(const HttpRequest& request);

}  // namespace switchboard::azure
