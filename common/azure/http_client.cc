#include "common/azure/http_client.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "common/http/client.h"

namespace switchboard::azure {

absl::StatusOr<HttpResponse> PerformHttp(const HttpRequest& req) {
  httpclient::Request r;
  r.method = req.method;
  r.url = req.url;
  r.headers = req.headers;
  r.body = req.body;
  r.body_size = req.body_size;
  r.body_source = req.body_source;
  r.sink = req.sink;
  r.timeout = absl::Milliseconds(req.timeout_ms);
  r.connect_timeout = absl::Seconds(10);
  r.ca_file = req.ca_file;
  auto answer = httpclient::SharedClient().Perform(r);
  if (!answer.ok()) return answer.status();
  HttpResponse resp;
  resp.status = answer->status;
  resp.body = std::move(answer->body);
  for (auto& [raw, value] : answer->headers) {
    std::string name = absl::AsciiStrToLower(raw);
    // Metadata names keep their case (Azure preserves it).
    if (absl::StartsWith(name, "x-ms-meta-")) name = "x-ms-meta-" + raw.substr(10);
    resp.headers[name] = std::move(value);
  }
  return resp;
}

}  // namespace switchboard::azure
