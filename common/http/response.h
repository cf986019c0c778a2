#pragma once
// An answer of the HTTP server (common/http/server.h), given whole: a status,
// a Content-Type, a body and extra headers.

#include <string>
#include <utility>
#include <vector>

namespace switchboard::httpserver {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  Headers headers;

  // A text/plain answer; a newline is added when `body` has none at its end.
  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

}  // namespace switchboard::httpserver
