#pragma once
// One HTTP request as Switchboard's listeners see it once its head is parsed
// (by Boost.Beast: common/http/parse.h), and the URL decoding they share.

#include <map>
#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::httpcore {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string path;    // percent-decoded path, without the query
  // Percent-decoded query parameters; for a repeated key, the first value.
  std::map<std::string, std::string> query;
  // Header names lower-cased; for a repeated header, the first value.
  std::map<std::string, std::string> headers;
  std::string body;
  // The peer's "ip:port" ("[ip]:port" for IPv6), for logs.
  std::string remote;

  // The header value, or "" when absent. `name` must be lower case.
  const std::string& Header(const std::string& name) const;
  // The query parameter, or "" when absent.
  const std::string& Query(const std::string& name) const;
};

// Percent-decoding of a URL component ('+' is a space in queries). A '%'
// not followed by two hex digits is kept as it is.
std::string UrlDecode(absl::string_view text, bool plus_is_space);
// Splits "a=1&b=2" into decoded pairs; the first value of a key wins.
std::map<std::string, std::string> ParseQuery(absl::string_view query);

}  // namespace switchboard::httpcore
