#include "server/resourcing/list_index.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/resourcing/names.h"

namespace switchboard::resourcing {
namespace {

std::vector<core::ResourceWrite> IndexWrites(const char* all_kind, const char* by_workspace_kind,
                                             const std::string& name, const std::string& workspace) {
  const std::string key = OrderKey(NumberOf(name));
  return {{all_kind, key, name, false},
          {by_workspace_kind, absl::StrCat(AcronymOf(workspace), "/", key), name, false}};
}

// Newest first over `all_kind`, or over `by_workspace_kind` under the
// workspace's prefix; tokens name `collection` and hold the last record.
template <class T>
core::Listing<T> Newest(const char* collection, const char* record_kind, const char* all_kind,
                        const char* by_workspace_kind, absl::string_view workspace) {
  core::Listing<T> l;
  l.collection = collection;
  l.record_kind = record_kind;
  if (workspace.empty()) {
    l.kind = all_kind;
  } else {
    l.kind = by_workspace_kind;
    l.prefix = absl::StrCat(AcronymOf(workspace), "/");
  }
  l.entry_of = [prefix = l.prefix](absl::string_view record_name) {
    return absl::StrCat(prefix, OrderKey(NumberOf(record_name)));
  };
  return l;
}

}  // namespace

std::string OrderKey(int64_t number) {
  return absl::StrFormat("%019d", std::numeric_limits<int64_t>::max() - number);
}

std::vector<core::ResourceWrite> RunIndexWrites(const v1::Run& run) {
  return IndexWrites(kRunOrderKind, kRunOrderByWorkspaceKind, run.name(), run.workspace());
}

std::vector<core::ResourceWrite> PullRequestIndexWrites(const v1::PullRequest& pr) {
  return IndexWrites(kPullRequestOrderKind, kPullRequestOrderByWorkspaceKind, pr.name(), pr.workspace());
}

void IndexRun(Txn& txn, const v1::Run& run) {
  for (auto& w : RunIndexWrites(run)) txn.PutRaw(w.kind, w.name, std::move(w.value));
}

void IndexPullRequest(Txn& txn, const v1::PullRequest& pr) {
  for (auto& w : PullRequestIndexWrites(pr)) txn.PutRaw(w.kind, w.name, std::move(w.value));
}

core::Listing<v1::Run> RunListing(absl::string_view workspace) {
  return Newest<v1::Run>("runs", kRunKind, kRunOrderKind, kRunOrderByWorkspaceKind, workspace);
}

core::Listing<v1::PullRequest> PullRequestListing(absl::string_view workspace) {
  return Newest<v1::PullRequest>("pullRequests", kPullRequestKind, kPullRequestOrderKind,
                                 kPullRequestOrderByWorkspaceKind, workspace);
}

}  // namespace switchboard::resourcing
