#pragma once
// Where pull requests live. The built-in provider keeps them in the store
// and merges with libgit2 (in the engine); an Azure DevOps REST provider can
// take its place later: it would create the PR remotely in Open and merge
// through the REST API. That provider is NOT shipped and is untested (see
// docs/resourcing.md).

#include <string>

#include "absl/status/statusor.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

class PullRequestProvider {
 public:
  virtual ~PullRequestProvider() = default;
  // "builtin" or "azure-devops"; stored in PullRequest.provider.
  virtual std::string name() const = 0;
  // Called before a new PR record is stored; may create it remotely.
  virtual absl::Status Open(const v1::PullRequest& pr) = 0;
  // Called after the engine closed the PR (merged or abandoned).
  virtual absl::Status Closed(const v1::PullRequest& pr) = 0;
};

// PR records in the store only; merging is the engine's libgit2 merge.
class BuiltinPullRequests final : public PullRequestProvider {
 public:
  std::string name() const override { return "builtin"; }
  absl::Status Open(const v1::PullRequest&) override { return absl::OkStatus(); }
  absl::Status Closed(const v1::PullRequest&) override { return absl::OkStatus(); }
};

}  // namespace switchboard::resourcing
