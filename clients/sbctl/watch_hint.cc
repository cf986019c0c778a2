#include "clients/sbctl/watch_hint.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace switchboard::sbctl {

std::string WithoutResumeAdvice(absl::string_view message) {
  std::vector<absl::string_view> clauses = absl::StrSplit(message, "; ");
  std::vector<absl::string_view> kept;
  for (size_t i = 0; i < clauses.size(); ++i) {
    if (i > 0 && absl::StrContains(clauses[i], "after_sequence")) continue;
    kept.push_back(clauses[i]);
  }
  return absl::StrJoin(kept, "; ");
}

std::string ResumeHint(absl::string_view rerun, int64_t after) {
  return absl::StrCat("resume after sequence ", after, " with '", rerun, " --after=", after, "'");
}

std::optional<int64_t> ResumePoint(const client::Connection& conn, const grpc::ClientContext& ctx,
                                   const grpc::Status& status, int64_t printed) {
  if (std::optional<int64_t> resume = client::ResumeAfter(ctx)) return std::max(printed, *resume);
  if (conn.IsUnreachable(status) && printed > 0) return printed;
  return std::nullopt;
}

}  // namespace switchboard::sbctl
