#include "common/http/response.h"

#include "common/http/exchange.h"

namespace switchboard::httpserver {

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  if (r.body.empty() || r.body.back() != '\n') r.body.push_back('\n');
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

bool Exchange::Respond(const Response& response) {
  Headers headers = response.headers;
  if (!response.content_type.empty()) headers.emplace_back("Content-Type", response.content_type);
  if (!WriteHead(response.status, headers, static_cast<int64_t>(response.body.size()))) return false;
  return request().method == "HEAD" || response.body.empty() || WriteBody(response.body);
}

}  // namespace switchboard::httpserver
