#include "gateway/adapters/rabbitmq/consume_spec.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace switchboard::gateway::rabbitmq {
namespace {

// An entry as errors quote it: at most 80 bytes of it.
std::string Quoted(absl::string_view key, absl::string_view entry) {
  if (entry.size() <= 80) return absl::StrCat(key, " '", entry, "'");
  return absl::StrCat(key, " '", entry.substr(0, 80), "...' (", entry.size(), " bytes)");
}

absl::Status CheckBinding(absl::string_view b, absl::string_view field) {
  if (b.empty() || b.size() > 255) return absl::InvalidArgumentError(absl::StrCat(field, ": binding must be 1-255 characters"));
  for (absl::string_view word : absl::StrSplit(b, '.')) {
    if (word.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": binding '", b, "' has an empty word"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<GorgApp>> ParseConsumeSpec(absl::string_view spec, absl::string_view key) {
  std::vector<GorgApp> out;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::string field = Quoted(key, entry);
    size_t colon = entry.find(':');
    if (colon == absl::string_view::npos || colon == 0 || colon + 1 == entry.size()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": must be NAME:BINDING[|BINDING...]"));
    }
    GorgApp app;
    app.app_id = std::string(entry.substr(0, colon));
    if (app.app_id.size() > kMaxAppIdLength) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the name must be at most ", kMaxAppIdLength,
                                                     " characters (its queues' names must fit in 255 bytes)"));
    }
    for (char c : app.app_id) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                c == '.';
      if (!ok) return absl::InvalidArgumentError(absl::StrCat(field, ": the name may only hold [A-Za-z0-9_.-]"));
    }
    for (absl::string_view b : absl::StrSplit(entry.substr(colon + 1), '|')) {
      if (auto s = CheckBinding(b, field); !s.ok()) return s;
      app.bindings.emplace_back(b);
    }
    out.push_back(std::move(app));
  }
  return out;
}

}  // namespace switchboard::gateway::rabbitmq
