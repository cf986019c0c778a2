#pragma once
// A persistent local mirror of one remote git repository, through libgit2
// only (no `git` subprocess). The mirror is a bare repository whose
// remote-tracking refs (refs/remotes/origin/*) follow the remote; commits
// are built straight from trees (no working directory) and pushed.
//
// One GitRepo serializes its own calls: git writes to one repository never
// overlap. Commit ids cross this interface as 40-hex strings so that no
// libgit2 type leaks out.
//
// Errors: an unreachable or failing remote is UNAVAILABLE (retryable); a
// push refused because the remote moved is ABORTED (fetch, rebase, retry);
// a missing path or ref is NOT_FOUND.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct git_repository;

namespace switchboard::resourcing {

struct Signature {
  std::string name;
  std::string email;
};

struct FolderEntry {
  std::string name;
  // "blob", "tree", "symlink", "submodule"; only blobs carry content.
  std::string kind;
  bool executable = false;
  std::string content;
};

struct MergeOutcome {
  // The new tip of the target branch (unchanged when already merged).
  std::string commit;
  bool fast_forward = false;
  // Non-empty when the merge conflicted (nothing was written then).
  std::vector<std::string> conflicts;
};

class GitRepo {
 public:
  // Opens the mirror at `path`, creating it (bare, remote "origin" = url) if
  // missing, and updating the remote URL if it changed. `token` (may be
  // empty) answers https credential requests.
  // Removes the *.lock files under a repository folder: git's locks, which a
  // process killed mid-write leaves behind (a push to a local remote, a
  // fetch into a mirror). Only for repositories this process alone writes,
  // at start-up (switchboardd holds the data-dir lock). Returns how many.
  static int RemoveStaleLocks(const std::string& path);

  static absl::StatusOr<std::unique_ptr<GitRepo>> OpenMirror(const std::string& path, const std::string& url,
                                                             const std::string& token);
  ~GitRepo();

  // Creates a bare repository at `path` whose branch `branch` holds one
  // commit with every file under `seed_dir` (recursively; may be empty for
  // an empty tree plus `extra_files`). Does nothing if `path` already holds
  // a repository.
  static absl::Status InitSeededBare(const std::string& path, const std::string& branch, const std::string& seed_dir,
                                     const std::vector<std::pair<std::string, std::string>>& extra_files,
                                     const Signature& author);

  // Fetches every branch and tag; prunes branches deleted on the remote.
  absl::Status Fetch();
  // The commit of origin/<branch>, or nullopt when the remote has no such
  // branch (as of the last fetch).
  absl::StatusOr<std::optional<std::string>> BranchCommit(absl::string_view branch);
  // "latest" -> origin/<main>; otherwise a tag, a branch or a commit id.
  absl::StatusOr<std::string> ResolveVersion(absl::string_view version, absl::string_view main_branch);

  // True if `path` exists in the commit's tree.
  absl::StatusOr<bool> HasPath(absl::string_view commit, absl::string_view path);
  // The entries directly inside folder `path` (blob contents included).
  // NOT_FOUND if it is missing or not a folder.
  absl::StatusOr<std::vector<FolderEntry>> ReadFolder(absl::string_view commit, absl::string_view path);

  // A commit on top of `parent` whose tree is the parent's with each
  // (path, content) written as a regular file. Returns nullopt, and makes
  // nothing, when the tree would not change.
  absl::StatusOr<std::optional<std::string>> CommitFiles(
      absl::string_view parent, const std::vector<std::pair<std::string, std::string>>& files,
      const Signature& author, absl::string_view message);

  // Pushes `commit` to branch `branch` of the remote (no force). ABORTED when
  // the remote refuses it as not a fast-forward.
  absl::Status Push(absl::string_view commit, absl::string_view branch);
  absl::Status DeleteRemoteBranch(absl::string_view branch);

  // Merges `theirs` into `ours` (fast-forward when possible, else a merge
  // commit with `message`). Writes nothing on conflict.
  absl::StatusOr<MergeOutcome> Merge(absl::string_view ours, absl::string_view theirs, const Signature& committer,
                                     absl::string_view message);
  // True if `commit` is `ancestor` or descends from it.
  absl::StatusOr<bool> Contains(absl::string_view commit, absl::string_view ancestor);

  // Names X of the folders `prefix`/X whose content differs between the
  // two commits (old may be empty: everything counts as changed).
  absl::StatusOr<std::vector<std::string>> ChangedFolders(absl::string_view old_commit, absl::string_view new_commit,
                                                          absl::string_view prefix);
  // Writes folder `path` of the commit (recursively) into `dir`.
  absl::Status Export(absl::string_view commit, absl::string_view path, const std::string& dir);

  // Author email of a commit, and its message (for tests and checks).
  absl::StatusOr<std::pair<std::string, std::string>> CommitInfo(absl::string_view commit);
  // First-parent history of a commit, newest first, at most `limit`.
  absl::StatusOr<std::vector<std::string>> Log(absl::string_view commit, int limit);

  const std::string& url() const { return url_; }

 private:
  GitRepo(git_repository* repo, std::string url, std::string token);
  absl::Status PushRefspec(const std::string& refspec, absl::string_view what);

  std::mutex mu_;
  git_repository* repo_;
  std::string url_;
  std::string token_;
};

// Process-wide libgit2 set-up; safe to call many times.
void InitLibgit2();

}  // namespace switchboard::resourcing
