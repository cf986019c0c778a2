#pragma once
// The listing indexes of runs and pull requests. ListRuns and
// ListPullRequests list newest first, but their records' names (runs/42)
// sort neither by number nor newest first; so each record also has entries
// in an index whose names do: one in the index of every record, and one in
// its workspace's ("FISH/" and the key). core::ListPage reads one page of an
// index and the records it names. The entries are written in the
// transaction that creates the record (records are never deleted), and, for
// a data dir that predates them, once at start (run_jobs.cc).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/core/list_page.h"
#include "server/core/store.h"
#include "server/resourcing/txn.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

// 19 digits that sort newest first: INT64_MAX - number, zero-padded.
std::string OrderKey(int64_t number);

// The index entries of a run or pull request, as store writes.
std::vector<core::ResourceWrite> RunIndexWrites(const v1::Run& run);
std::vector<core::ResourceWrite> PullRequestIndexWrites(const v1::PullRequest& pr);
// The same, inside a transaction.
void IndexRun(Txn& txn, const v1::Run& run);
void IndexPullRequest(Txn& txn, const v1::PullRequest& pr);

// The listings, newest first; `workspace` ("workspaces/FISH", or "FISH")
// limits them to one workspace when it is not empty.
core::Listing<v1::Run> RunListing(absl::string_view workspace);
core::Listing<v1::PullRequest> PullRequestListing(absl::string_view workspace);

}  // namespace switchboard::resourcing
