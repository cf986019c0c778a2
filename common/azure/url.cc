#include "common/azure/url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/http/request.h"

namespace switchboard::azure {

std::string PercentEncode(absl::string_view s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string PercentDecode(absl::string_view s, bool plus_is_space) { return httpcore::UrlDecode(s, plus_is_space); }

std::map<std::string, std::string> ParseQuery(absl::string_view query) {
  std::map<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    auto eq = part.find('=');
    if (eq == absl::string_view::npos) {
      out[PercentDecode(part, true)] = "";
    } else {
      out[PercentDecode(part.substr(0, eq), true)] = PercentDecode(part.substr(eq + 1), true);
    }
  }
  return out;
}

std::string BuildQuery(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += PercentEncode(k);
    out.push_back('=');
    out += PercentEncode(v);
  }
  return out;
}

std::string Rfc1123(absl::Time t) { return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone()); }

bool ParseRfc1123(absl::string_view s, absl::Time* out) {
  std::string err;
  return absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(s), absl::UTCTimeZone(), out, &err);
}

std::string Iso8601(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

bool ParseIso8601(absl::string_view s, absl::Time* out) {
  std::string err;
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", std::string(s), absl::UTCTimeZone(), out, &err)) return true;
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", std::string(s), absl::UTCTimeZone(), out, &err)) return true;
  return absl::ParseTime("%Y-%m-%d", std::string(s), absl::UTCTimeZone(), out, &err);
}

}  // namespace switchboard::azure
