#include "server/notification/topic.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace switchboard::notification {
namespace {

bool MatchWords(const std::vector<absl::string_view>& p, size_t pi, const std::vector<absl::string_view>& k,
                size_t ki) {
  while (pi < p.size()) {
    if (p[pi] == "#") {
      // Collapse runs of '#', then try every split point.
      while (pi + 1 < p.size() && p[pi + 1] == "#") ++pi;
      if (pi + 1 == p.size()) return true;
      for (size_t j = ki; j <= k.size(); ++j) {
        if (MatchWords(p, pi + 1, k, j)) return true;
      }
      return false;
    }
    if (ki >= k.size()) return false;
    if (k[ki].empty() || (p[pi] != "*" && p[pi] != k[ki])) return false;
    ++pi;
    ++ki;
  }
  return ki == k.size();
}

absl::Status CheckWords(absl::string_view field, absl::string_view key, bool wildcards) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty; give dot-separated words such as request.gapps.account.create"));
  if (key.size() > 255) return absl::InvalidArgumentError(absl::StrCat(field, " is longer than 255 bytes (the AMQP limit)"));
  int i = 0;
  for (absl::string_view w : absl::StrSplit(key, '.')) {
    if (w.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " '", key, "' has an empty word at position ", i, "; words are separated by single dots"));
    }
    if (!wildcards && (w == "*" || w == "#")) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " '", key, "' holds the wildcard '", w, "'; routing keys are plain words"));
    }
    ++i;
  }
  return absl::OkStatus();
}

}  // namespace

bool TopicMatches(absl::string_view pattern, absl::string_view routing_key) {
  std::vector<absl::string_view> p = absl::StrSplit(pattern, '.');
  std::vector<absl::string_view> k = absl::StrSplit(routing_key, '.');
  return MatchWords(p, 0, k, 0);
}

absl::Status ValidateRoutingKey(absl::string_view field, absl::string_view key) { return CheckWords(field, key, false); }

absl::Status ValidateBinding(absl::string_view field, absl::string_view pattern) {
  return CheckWords(field, pattern, true);
}

}  // namespace switchboard::notification
