#pragma once
// URL pieces Azure Storage needs: percent-encoding of paths and query values,
// query parsing, and RFC 1123 / ISO 8601 times.

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::azure {

// Percent-encodes everything but unreserved characters; '/' too unless
// keep_slash.
std::string PercentEncode(absl::string_view s, bool keep_slash = false);
// Decodes %XX (and '+' as space when plus_is_space). Malformed escapes are
// kept as they are.
std::string PercentDecode(absl::string_view s, bool plus_is_space = false);
// "a=1&b=x%20y" -> {a:1, b:"x y"}; later repeats win.
std::map<std::string, std::string> ParseQuery(absl::string_view query);
// Builds "a=1&b=x%20y" in key order.
std::string BuildQuery(const std::map<std::string, std::string>& params);

// "Tue, 01 Aug 2023 10:00:00 GMT".
std::string Rfc1123(absl::Time t);
bool ParseRfc1123(absl::string_view s, absl::Time* out);
// "2023-08-01T10:00:00Z" (seconds precision, as SAS tokens use).
std::string Iso8601(absl::Time t);
bool ParseIso8601(absl::string_view s, absl::Time* out);

}  // namespace switchboard::azure
