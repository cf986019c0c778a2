#pragma once
// What a Boost.Beast request parser needs to behave as every Switchboard
// listener does: its limits, the status and message of a refusal, and the
// copy of a parsed head into httpcore::Request. Include only where Beast is
// used already (parse.cc, the server's common/http/session.h): it pulls in
// Beast's headers.

#include <boost/beast/http.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/http/parse.h"
#include "common/http/request.h"

namespace switchboard::httpcore {

template <class Parser>
void ApplyLimits(Parser& parser, const ParseLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
  // A caller that streams the body (head_only) applies its own limit to it.
  // Not boost::none: Beast 1.74 compares a Content-Length with the optional,
  // and any length is "greater" than none.
  if (limits.head_only) {
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  } else {
    parser.body_limit(limits.body_limit);
  }
}

// 413 for a body over the limit, 431 for a head over it, 400 otherwise.
inline int RefusalStatus(const boost::beast::error_code& ec) {
  if (ec == boost::beast::http::error::body_limit) return 413;
  if (ec == boost::beast::http::error::header_limit) return 431;
  return 400;
}

inline std::string RefusalMessage(const boost::beast::error_code& ec, const ParseLimits& limits) {
  switch (RefusalStatus(ec)) {
    case 413: return absl::StrCat("request body larger than ", limits.body_limit, " bytes");
    case 431: return absl::StrCat("request headers larger than ", limits.header_limit, " bytes");
    default: return absl::StrCat("malformed HTTP request: ", ec.message());
  }
}

// Method, target, decoded path and query, and lower-cased headers (the first
// of a repeated header wins).
template <class Fields>
void CopyHead(const boost::beast::http::request_header<Fields>& head, Request* out) {
  out->method = std::string(head.method_string());
  out->target = std::string(head.target());
  absl::string_view target = out->target;
  std::size_t q = target.find('?');
  out->path = UrlDecode(target.substr(0, q), false);
  if (q != absl::string_view::npos) out->query = ParseQuery(target.substr(q + 1));
  for (const auto& field : head) {
    out->headers.emplace(
        absl::AsciiStrToLower(absl::string_view(field.name_string().data(), field.name_string().size())),
        std::string(field.value()));
  }
}

}  // namespace switchboard::httpcore
