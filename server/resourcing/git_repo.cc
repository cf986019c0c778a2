#include "server/resourcing/git_repo.h"

#include <git2.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status.h"

namespace switchboard::resourcing {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
template <class T, void (*Free)(T*)>
using Ptr = std::unique_ptr<T, Deleter<T, Free>>;

using RepoPtr = Ptr<git_repository, git_repository_free>;
using RemotePtr = Ptr<git_remote, git_remote_free>;
using CommitPtr = Ptr<git_commit, git_commit_free>;
using TreePtr = Ptr<git_tree, git_tree_free>;
using EntryPtr = Ptr<git_tree_entry, git_tree_entry_free>;
using BlobPtr = Ptr<git_blob, git_blob_free>;
using RefPtr = Ptr<git_reference, git_reference_free>;
using SigPtr = Ptr<git_signature, git_signature_free>;
using IndexPtr = Ptr<git_index, git_index_free>;
using ObjPtr = Ptr<git_object, git_object_free>;
using IterPtr = Ptr<git_index_conflict_iterator, git_index_conflict_iterator_free>;
using WalkPtr = Ptr<git_revwalk, git_revwalk_free>;

std::string LastError() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

absl::Status GitError(absl::string_view what, absl::StatusCode code = absl::StatusCode::kInternal) {
  return absl::Status(code, absl::StrCat(what, ": ", LastError()));
}

std::string Hex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

absl::StatusOr<git_oid> ParseOid(absl::string_view hex) {
  git_oid oid;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstrn(&oid, hex.data(), hex.size()) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", hex, "' is not a commit id"));
  }
  return oid;
}

absl::StatusOr<CommitPtr> LookupCommit(git_repository* repo, absl::string_view hex) {
  ASSIGN_OR_RETURN(git_oid oid, ParseOid(hex));
  git_commit* c = nullptr;
  if (git_commit_lookup(&c, repo, &oid) != 0) {
    return absl::NotFoundError(absl::StrCat("commit ", hex, " is not in the mirror: ", LastError()));
  }
  return CommitPtr(c);
}

absl::StatusOr<TreePtr> CommitTree(git_repository* repo, absl::string_view hex) {
  ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(repo, hex));
  git_tree* t = nullptr;
  if (git_commit_tree(&t, c.get()) != 0) return GitError("commit tree");
  return TreePtr(t);
}

// The subtree at `path` ("" = root), or NOT_FOUND.
absl::StatusOr<TreePtr> SubTree(git_repository* repo, git_tree* root, absl::string_view path) {
  if (path.empty()) {
    git_tree* t = nullptr;
    if (git_tree_dup(&t, root) != 0) return GitError("tree dup");
    return TreePtr(t);
  }
  git_tree_entry* e = nullptr;
  if (git_tree_entry_bypath(&e, root, std::string(path).c_str()) != 0) {
    return absl::NotFoundError(absl::StrCat("'", path, "' does not exist"));
  }
  EntryPtr entry(e);
  if (git_tree_entry_type(e) != GIT_OBJECT_TREE) return absl::NotFoundError(absl::StrCat("'", path, "' is not a folder"));
  git_tree* t = nullptr;
  if (git_tree_lookup(&t, repo, git_tree_entry_id(e)) != 0) return GitError("tree lookup");
  return TreePtr(t);
}

// The payload of every remote callback.
struct CallbackData {
  const std::string* token = nullptr;
  std::string rejected;
  int credential_calls = 0;
};

int CredentialCb(git_credential** out, const char*, const char*, unsigned int allowed, void* payload) {
  auto* data = static_cast<CallbackData*>(payload);
  // A token that was refused once would be offered forever.
  if (data->token->empty() || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) || data->credential_calls++ > 0) {
    return GIT_PASSTHROUGH;
  }
  return git_credential_userpass_plaintext_new(out, "x-token", data->token->c_str());
}

int PushRefCb(const char* refname, const char* status, void* payload) {
  if (status != nullptr) static_cast<CallbackData*>(payload)->rejected = absl::StrCat(refname, ": ", status);
  return 0;
}

bool LooksRejected(absl::string_view msg) {
  return absl::StrContains(msg, "non-fastforward") || absl::StrContains(msg, "non-fast-forward") ||
         absl::StrContains(msg, "fetch first") || absl::StrContains(msg, "rejected") ||
         absl::StrContains(msg, "not fast-forward") || absl::StrContains(msg, "fastforwardable");
}

absl::Status AddDirToTree(git_repository* repo, const std::filesystem::path& dir, std::vector<git_tree_update>* ups,
                          std::vector<std::string>* paths, const std::string& prefix) {
  std::error_code ec;
  for (const auto& it : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = it.path().filename().string();
    if (name == ".git") continue;
    std::string rel = prefix.empty() ? name : prefix + "/" + name;
    if (it.is_symlink()) continue;  // seeds never carry links
    if (it.is_directory()) {
      RETURN_IF_ERROR(AddDirToTree(repo, it.path(), ups, paths, rel));
      continue;
    }
    std::ifstream in(it.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string content = ss.str();
    git_tree_update u{};
    u.action = GIT_TREE_UPDATE_UPSERT;
    if (git_blob_create_from_buffer(&u.id, repo, content.data(), content.size()) != 0) return GitError("write blob");
    u.filemode = GIT_FILEMODE_BLOB;
    paths->push_back(rel);
    ups->push_back(u);
  }
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot read seed folder ", dir.string(), ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> WriteTreeWithFiles(git_repository* repo, git_tree* base,
                                               const std::vector<std::pair<std::string, std::string>>& files,
                                               std::vector<git_tree_update> ups, std::vector<std::string> paths) {
  for (const auto& [path, content] : files) {
    git_tree_update u{};
    u.action = GIT_TREE_UPDATE_UPSERT;
    if (git_blob_create_from_buffer(&u.id, repo, content.data(), content.size()) != 0) return GitError("write blob");
    u.filemode = GIT_FILEMODE_BLOB;
    paths.push_back(path);
    ups.push_back(u);
  }
  for (size_t i = 0; i < ups.size(); ++i) ups[i].path = paths[i].c_str();
  git_oid out;
  if (base == nullptr) {
    // libgit2 wants a baseline: start from the empty tree.
    git_treebuilder* b = nullptr;
    if (git_treebuilder_new(&b, repo, nullptr) != 0) return GitError("tree builder");
    git_oid empty;
    int rc = git_treebuilder_write(&empty, b);
    git_treebuilder_free(b);
    if (rc != 0) return GitError("write empty tree");
    git_tree* t = nullptr;
    if (git_tree_lookup(&t, repo, &empty) != 0) return GitError("tree lookup");
    TreePtr tp(t);
    if (git_tree_create_updated(&out, repo, tp.get(), ups.size(), ups.data()) != 0) return GitError("update tree");
  } else if (git_tree_create_updated(&out, repo, base, ups.size(), ups.data()) != 0) {
    return GitError("update tree");
  }
  return Hex(out);
}

absl::Status ExportTree(git_repository* repo, git_tree* tree, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  size_t n = git_tree_entrycount(tree);
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(tree, i);
    std::string name = git_tree_entry_name(e);
    if (name == "." || name == ".." || absl::StrContains(name, "/")) continue;
    git_filemode_t mode = git_tree_entry_filemode(e);
    if (mode == GIT_FILEMODE_TREE) {
      git_tree* sub = nullptr;
      if (git_tree_lookup(&sub, repo, git_tree_entry_id(e)) != 0) return GitError("tree lookup");
      TreePtr sp(sub);
      RETURN_IF_ERROR(ExportTree(repo, sub, dir / name));
    } else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
      git_blob* b = nullptr;
      if (git_blob_lookup(&b, repo, git_tree_entry_id(e)) != 0) return GitError("blob lookup");
      BlobPtr bp(b);
      std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
      out.write(static_cast<const char*>(git_blob_rawcontent(b)), static_cast<std::streamsize>(git_blob_rawsize(b)));
      if (!out) return absl::InternalError(absl::StrCat("cannot write ", (dir / name).string()));
    }
    // Symlinks and submodules are not exported: nothing outside the tree is
    // ever reachable through the checkout.
  }
  return absl::OkStatus();
}

}  // namespace

void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

GitRepo::GitRepo(git_repository* repo, std::string url, std::string token)
    : repo_(repo), url_(std::move(url)), token_(std::move(token)) {}

GitRepo::~GitRepo() { git_repository_free(repo_); }

absl::StatusOr<std::unique_ptr<GitRepo>> GitRepo::OpenMirror(const std::string& path, const std::string& url,
                                                             const std::string& token) {
  InitLibgit2();
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, path.c_str()) != 0) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (git_repository_init(&raw, path.c_str(), /*is_bare=*/1) != 0) {
      return GitError(absl::StrCat("create mirror ", path), absl::StatusCode::kFailedPrecondition);
    }
  }
  RepoPtr repo(raw);
  git_remote* r = nullptr;
  if (git_remote_lookup(&r, repo.get(), "origin") != 0) {
    if (git_remote_create(&r, repo.get(), "origin", url.c_str()) != 0) {
      return GitError(absl::StrCat("remote url '", url, "'"), absl::StatusCode::kInvalidArgument);
    }
  } else if (url != git_remote_url(r)) {
    if (git_remote_set_url(repo.get(), "origin", url.c_str()) != 0) {
      git_remote_free(r);
      return GitError(absl::StrCat("remote url '", url, "'"), absl::StatusCode::kInvalidArgument);
    }
  }
  git_remote_free(r);
  return std::unique_ptr<GitRepo>(new GitRepo(repo.release(), url, token));
}

absl::Status GitRepo::InitSeededBare(const std::string& path, const std::string& branch, const std::string& seed_dir,
                                     const std::vector<std::pair<std::string, std::string>>& extra_files,
                                     const Signature& author) {
  InitLibgit2();
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, path.c_str()) == 0) {
    git_repository_free(raw);
    return absl::OkStatus();
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  // Build in a temporary path and rename, so a crash never leaves half a repo.
  const std::string tmp = path + ".init";
  std::filesystem::remove_all(tmp, ec);
  git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
  const std::string head = absl::StrCat("refs/heads/", branch);
  opts.initial_head = head.c_str();
  if (git_repository_init_ext(&raw, tmp.c_str(), &opts) != 0) return GitError(absl::StrCat("init ", path));
  RepoPtr repo(raw);
  std::vector<git_tree_update> ups;
  std::vector<std::string> paths;
  if (!seed_dir.empty()) RETURN_IF_ERROR(AddDirToTree(repo.get(), seed_dir, &ups, &paths, ""));
  ASSIGN_OR_RETURN(std::string tree_hex, WriteTreeWithFiles(repo.get(), nullptr, extra_files, ups, paths));
  ASSIGN_OR_RETURN(git_oid tree_oid, ParseOid(tree_hex));
  git_tree* t = nullptr;
  if (git_tree_lookup(&t, repo.get(), &tree_oid) != 0) return GitError("tree lookup");
  TreePtr tree(t);
  git_signature* s = nullptr;
  if (git_signature_now(&s, author.name.c_str(), author.email.c_str()) != 0) return GitError("signature");
  SigPtr sig(s);
  git_oid commit;
  if (git_commit_create(&commit, repo.get(), head.c_str(), sig.get(), sig.get(), nullptr, "Initial commit", tree.get(),
                        0, nullptr) != 0) {
    return GitError("initial commit");
  }
  repo.reset();
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot move ", tmp, " to ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status GitRepo::Fetch() {
  std::lock_guard<std::mutex> lock(mu_);
  git_remote* r = nullptr;
  if (git_remote_lookup(&r, repo_, "origin") != 0) return GitError("remote origin");
  RemotePtr remote(r);
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.prune = GIT_FETCH_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
  CallbackData data;
  data.token = &token_;
  opts.callbacks.credentials = CredentialCb;
  opts.callbacks.payload = &data;
  if (git_remote_fetch(remote.get(), nullptr, &opts, "fetch") != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot fetch from ", url_, ": ", LastError(), " (check the remote URL and that it is reachable)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> GitRepo::BranchCommit(absl::string_view branch) {
  std::lock_guard<std::mutex> lock(mu_);
  git_oid oid;
  std::string ref = absl::StrCat("refs/remotes/origin/", branch);
  int rc = git_reference_name_to_id(&oid, repo_, ref.c_str());
  if (rc == GIT_ENOTFOUND) return std::optional<std::string>();
  if (rc != 0) return GitError(absl::StrCat("read ", ref));
  return std::optional<std::string>(Hex(oid));
}

absl::StatusOr<std::string> GitRepo::ResolveVersion(absl::string_view version, absl::string_view main_branch) {
  if (version.empty() || version == "latest") {
    ASSIGN_OR_RETURN(std::optional<std::string> main, BranchCommit(main_branch));
    if (!main.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(url_, " has no branch ", main_branch));
    }
    return *main;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& spec : {absl::StrCat("refs/tags/", version), absl::StrCat("refs/remotes/origin/", version)}) {
    git_object* o = nullptr;
    if (git_revparse_single(&o, repo_, absl::StrCat(spec, "^{commit}").c_str()) == 0) {
      ObjPtr obj(o);
      return Hex(*git_object_id(o));
    }
  }
  if (version.size() == GIT_OID_HEXSZ) {
    auto oid = ParseOid(version);
    git_commit* c = nullptr;
    if (oid.ok() && git_commit_lookup(&c, repo_, &*oid) == 0) {
      git_commit_free(c);
      return std::string(version);
    }
  }
  return absl::NotFoundError(absl::StrCat("version '", version, "' is not a tag, branch or commit of ", url_));
}

absl::StatusOr<bool> GitRepo::HasPath(absl::string_view commit, absl::string_view path) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(TreePtr root, CommitTree(repo_, commit));
  git_tree_entry* e = nullptr;
  if (git_tree_entry_bypath(&e, root.get(), std::string(path).c_str()) != 0) return false;
  git_tree_entry_free(e);
  return true;
}

absl::StatusOr<std::vector<FolderEntry>> GitRepo::ReadFolder(absl::string_view commit, absl::string_view path) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(TreePtr root, CommitTree(repo_, commit));
  ASSIGN_OR_RETURN(TreePtr tree, SubTree(repo_, root.get(), path));
  std::vector<FolderEntry> out;
  size_t n = git_tree_entrycount(tree.get());
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
    FolderEntry fe;
    fe.name = git_tree_entry_name(e);
    switch (git_tree_entry_filemode(e)) {
      case GIT_FILEMODE_TREE: fe.kind = "tree"; break;
      case GIT_FILEMODE_LINK: fe.kind = "symlink"; break;
      case GIT_FILEMODE_COMMIT: fe.kind = "submodule"; break;
      case GIT_FILEMODE_BLOB_EXECUTABLE: fe.executable = true; [[fallthrough]];
      default: {
        fe.kind = "blob";
        git_blob* b = nullptr;
        if (git_blob_lookup(&b, repo_, git_tree_entry_id(e)) != 0) return GitError("blob lookup");
        BlobPtr bp(b);
        fe.content.assign(static_cast<const char*>(git_blob_rawcontent(b)), git_blob_rawsize(b));
      }
    }
    out.push_back(std::move(fe));
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> GitRepo::CommitFiles(
    absl::string_view parent, const std::vector<std::pair<std::string, std::string>>& files, const Signature& author,
    absl::string_view message) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(CommitPtr parent_commit, LookupCommit(repo_, parent));
  git_tree* t = nullptr;
  if (git_commit_tree(&t, parent_commit.get()) != 0) return GitError("commit tree");
  TreePtr base(t);
  ASSIGN_OR_RETURN(std::string tree_hex, WriteTreeWithFiles(repo_, base.get(), files, {}, {}));
  if (tree_hex == Hex(*git_tree_id(base.get()))) return std::optional<std::string>();
  ASSIGN_OR_RETURN(git_oid tree_oid, ParseOid(tree_hex));
  git_tree* nt = nullptr;
  if (git_tree_lookup(&nt, repo_, &tree_oid) != 0) return GitError("tree lookup");
  TreePtr new_tree(nt);
  git_signature* s = nullptr;
  if (git_signature_now(&s, author.name.c_str(), author.email.c_str()) != 0) {
    return GitError(absl::StrCat("signature for '", author.email, "'"), absl::StatusCode::kInvalidArgument);
  }
  SigPtr sig(s);
  git_oid out;
  const git_commit* parents[] = {parent_commit.get()};
  std::string msg(message);
  if (git_commit_create(&out, repo_, nullptr, sig.get(), sig.get(), nullptr, msg.c_str(), new_tree.get(), 1,
                        parents) != 0) {
    return GitError("create commit");
  }
  return std::optional<std::string>(Hex(out));
}

absl::Status GitRepo::PushRefspec(const std::string& refspec, absl::string_view what) {
  git_remote* r = nullptr;
  if (git_remote_lookup(&r, repo_, "origin") != 0) return GitError("remote origin");
  RemotePtr remote(r);
  git_push_options opts = GIT_PUSH_OPTIONS_INIT;
  CallbackData data;
  data.token = &token_;
  opts.callbacks.credentials = CredentialCb;
  opts.callbacks.push_update_reference = PushRefCb;
  opts.callbacks.payload = &data;
  const char* specs[] = {refspec.c_str()};
  git_strarray arr{const_cast<char**>(specs), 1};
  int rc = git_remote_push(remote.get(), &arr, &opts);
  if (rc != 0) {
    std::string msg = LastError();
    if (LooksRejected(msg)) return absl::AbortedError(absl::StrCat("push of ", what, " rejected: ", msg));
    return absl::UnavailableError(absl::StrCat("cannot push ", what, " to ", url_, ": ", msg));
  }
  if (!data.rejected.empty()) return absl::AbortedError(absl::StrCat("push rejected: ", data.rejected));
  return absl::OkStatus();
}

absl::Status GitRepo::Push(absl::string_view commit, absl::string_view branch) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(git_oid oid, ParseOid(commit));
  const std::string local = absl::StrCat("refs/heads/sb-push/", branch);
  git_reference* ref = nullptr;
  if (git_reference_create(&ref, repo_, local.c_str(), &oid, /*force=*/1, "switchboard push") != 0) {
    return GitError("local push ref");
  }
  git_reference_free(ref);
  RETURN_IF_ERROR(PushRefspec(absl::StrCat(local, ":refs/heads/", branch), absl::StrCat("branch ", branch)));
  const std::string tracking = absl::StrCat("refs/remotes/origin/", branch);
  if (git_reference_create(&ref, repo_, tracking.c_str(), &oid, 1, "switchboard push") != 0) {
    return GitError("tracking ref");
  }
  git_reference_free(ref);
  return absl::OkStatus();
}

absl::Status GitRepo::DeleteRemoteBranch(absl::string_view branch) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(PushRefspec(absl::StrCat(":refs/heads/", branch), absl::StrCat("deletion of ", branch)));
  git_reference* ref = nullptr;
  if (git_reference_lookup(&ref, repo_, absl::StrCat("refs/remotes/origin/", branch).c_str()) == 0) {
    git_reference_delete(ref);
    git_reference_free(ref);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> GitRepo::Contains(absl::string_view commit, absl::string_view ancestor) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(git_oid a, ParseOid(commit));
  ASSIGN_OR_RETURN(git_oid b, ParseOid(ancestor));
  if (git_oid_equal(&a, &b)) return true;
  int rc = git_graph_descendant_of(repo_, &a, &b);
  if (rc < 0) return GitError("ancestry");
  return rc == 1;
}

absl::StatusOr<MergeOutcome> GitRepo::Merge(absl::string_view ours, absl::string_view theirs,
                                            const Signature& committer, absl::string_view message) {
  ASSIGN_OR_RETURN(bool already, Contains(ours, theirs));
  if (already) return MergeOutcome{std::string(ours), false, {}};
  ASSIGN_OR_RETURN(bool ff, Contains(theirs, ours));
  if (ff) return MergeOutcome{std::string(theirs), true, {}};
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(CommitPtr a, LookupCommit(repo_, ours));
  ASSIGN_OR_RETURN(CommitPtr b, LookupCommit(repo_, theirs));
  git_index* idx = nullptr;
  git_merge_options mopts = GIT_MERGE_OPTIONS_INIT;
  if (git_merge_commits(&idx, repo_, a.get(), b.get(), &mopts) != 0) return GitError("merge");
  IndexPtr index(idx);
  MergeOutcome out;
  if (git_index_has_conflicts(idx)) {
    git_index_conflict_iterator* it = nullptr;
    if (git_index_conflict_iterator_new(&it, idx) != 0) return GitError("conflicts");
    IterPtr iter(it);
    const git_index_entry *anc, *o, *t;
    std::set<std::string> paths;
    while (git_index_conflict_next(&anc, &o, &t, it) == 0) {
      const git_index_entry* any = o ? o : (t ? t : anc);
      if (any) paths.insert(any->path);
    }
    out.conflicts.assign(paths.begin(), paths.end());
    return out;
  }
  git_oid tree_oid;
  if (git_index_write_tree_to(&tree_oid, idx, repo_) != 0) return GitError("write merged tree");
  git_tree* t = nullptr;
  if (git_tree_lookup(&t, repo_, &tree_oid) != 0) return GitError("tree lookup");
  TreePtr tree(t);
  git_signature* s = nullptr;
  if (git_signature_now(&s, committer.name.c_str(), committer.email.c_str()) != 0) return GitError("signature");
  SigPtr sig(s);
  const git_commit* parents[] = {a.get(), b.get()};
  git_oid merged;
  std::string msg(message);
  if (git_commit_create(&merged, repo_, nullptr, sig.get(), sig.get(), nullptr, msg.c_str(), tree.get(), 2,
                        parents) != 0) {
    return GitError("merge commit");
  }
  out.commit = Hex(merged);
  return out;
}

absl::StatusOr<std::vector<std::string>> GitRepo::ChangedFolders(absl::string_view old_commit,
                                                                 absl::string_view new_commit,
                                                                 absl::string_view prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(TreePtr new_root, CommitTree(repo_, new_commit));
  auto new_sub = SubTree(repo_, new_root.get(), prefix);
  if (!new_sub.ok()) return std::vector<std::string>();
  std::map<std::string, std::string> old_ids;
  if (!old_commit.empty()) {
    ASSIGN_OR_RETURN(TreePtr old_root, CommitTree(repo_, old_commit));
    auto old_sub = SubTree(repo_, old_root.get(), prefix);
    if (old_sub.ok()) {
      for (size_t i = 0; i < git_tree_entrycount(old_sub->get()); ++i) {
        const git_tree_entry* e = git_tree_entry_byindex(old_sub->get(), i);
        old_ids[git_tree_entry_name(e)] = Hex(*git_tree_entry_id(e));
      }
    }
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < git_tree_entrycount(new_sub->get()); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(new_sub->get(), i);
    if (git_tree_entry_type(e) != GIT_OBJECT_TREE) continue;
    auto it = old_ids.find(git_tree_entry_name(e));
    if (it == old_ids.end() || it->second != Hex(*git_tree_entry_id(e))) out.push_back(git_tree_entry_name(e));
  }
  return out;
}

absl::Status GitRepo::Export(absl::string_view commit, absl::string_view path, const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(TreePtr root, CommitTree(repo_, commit));
  ASSIGN_OR_RETURN(TreePtr sub, SubTree(repo_, root.get(), path));
  return ExportTree(repo_, sub.get(), dir);
}

absl::StatusOr<std::pair<std::string, std::string>> GitRepo::CommitInfo(absl::string_view commit) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(repo_, commit));
  const git_signature* a = git_commit_author(c.get());
  return std::make_pair(std::string(a->email), std::string(git_commit_message(c.get())));
}

absl::StatusOr<std::vector<std::string>> GitRepo::Log(absl::string_view commit, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(git_oid start, ParseOid(commit));
  git_revwalk* w = nullptr;
  if (git_revwalk_new(&w, repo_) != 0) return GitError("revwalk");
  WalkPtr walk(w);
  git_revwalk_simplify_first_parent(w);
  if (git_revwalk_push(w, &start) != 0) return GitError("revwalk push");
  std::vector<std::string> out;
  git_oid oid;
  while (static_cast<int>(out.size()) < limit && git_revwalk_next(&oid, w) == 0) out.push_back(Hex(oid));
  return out;
}

int GitRepo::RemoveStaleLocks(const std::string& path) {
  namespace fs = std::filesystem;
  int removed = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->path().extension() != ".lock") continue;
    std::error_code rm;
    if (fs::remove(it->path(), rm)) {
      log::Warn("removed a git lock left by an earlier crash", {{"path", it->path().string()}});
      ++removed;
    }
  }
  return removed;
}

}  // namespace switchboard::resourcing
