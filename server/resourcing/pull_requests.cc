// Pull requests of the built-in provider: opened (or reused) by a run whose
// templates need approval, approved (merged with libgit2, pushed) or
// abandoned by an admin.

#include <algorithm>

#include <google/protobuf/wrappers.pb.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status.h"
#include "server/resourcing/engine.h"
#include "server/resourcing/git_repo.h"
#include "server/resourcing/names.h"
#include "server/resourcing/pr_provider.h"
#include "server/resourcing/records.h"

namespace switchboard::resourcing {
namespace {

constexpr char kScopeApprove[] = "resourcing.ApprovePullRequest";
constexpr char kScopeAbandon[] = "resourcing.AbandonPullRequest";

std::string Branch(const v1::PullRequest& pr) {
  std::string b = pr.source_branch();
  if (b.rfind("refs/heads/", 0) == 0) b = b.substr(11);
  return b;
}

}  // namespace

absl::Status ResourcingEngine::OpenOrReusePullRequest(const v1::Run& run,
                                                      const std::vector<v1::TemplateStatus>& templates) {
  const std::string acronym = run.workspace_spec().acronym();
  // Prepared outside the transaction: the provider may call out.
  v1::PullRequest fresh;
  fresh.set_title(absl::StrCat("Workspace ", acronym, ": ", run.workspace_spec().name()));
  std::vector<std::string> names;
  for (const auto& t : templates) names.push_back(t.template_());
  fresh.set_description(absl::StrCat("Requested by ", run.requesting_user_email(), " (", run.name(),
                                     "). Templates: ", absl::StrJoin(names, ", "), "."));
  fresh.set_source_branch(absl::StrCat("refs/heads/", acronym));
  fresh.set_target_branch(absl::StrCat("refs/heads/", options_.main_branch));
  fresh.set_workspace(run.workspace());
  fresh.set_state(v1::PullRequest::ACTIVE);
  fresh.set_created_by(run.requesting_user_email());
  fresh.set_provider(prs_->name());
  auto existing = store_->GetResource(kActivePrKind, acronym);
  if (!existing.ok()) return existing.status();
  if (!existing->has_value()) RETURN_IF_ERROR(prs_->Open(fresh));

  auto r = Transact(store_, run.request_id(), [&](Txn& txn) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Run cur, txn.Must<v1::Run>(kRunKind, run.name()));
    ASSIGN_OR_RETURN(v1::Workspace ws, txn.Must<v1::Workspace>(kWorkspaceKind, cur.workspace()));
    ASSIGN_OR_RETURN(std::optional<google::protobuf::StringValue> active,
                     txn.Get<google::protobuf::StringValue>(kActivePrKind, acronym));
    v1::PullRequest pr;
    if (active.has_value()) {
      ASSIGN_OR_RETURN(pr, txn.Must<v1::PullRequest>(kPullRequestKind, active->value()));
    }
    if (!active.has_value() || pr.state() != v1::PullRequest::ACTIVE) {
      pr = fresh;
      pr.set_id(txn.NextSequence());
      pr.set_name(PullRequestName(pr.id()));
      SetNow(pr.mutable_create_time());
      google::protobuf::StringValue pointer;
      pointer.set_value(pr.name());
      txn.Put(kActivePrKind, acronym, pointer);
    }
    if (std::find(pr.runs().begin(), pr.runs().end(), cur.name()) == pr.runs().end()) pr.add_runs(cur.name());
    SetNow(pr.mutable_update_time());
    for (const auto& t : templates) {
      SetTemplateStatus(&ws, &cur, t.template_(), v1::PENDING_APPROVAL, "", t.approval_policy());
    }
    cur.set_state(v1::Run::AWAITING_APPROVAL);
    cur.set_pull_request(pr.name());
    Touch(&cur);
    Touch(&ws);
    txn.Put(kPullRequestKind, pr.name(), pr);
    txn.Put(kRunKind, cur.name(), cur);
    txn.Put(kWorkspaceKind, ws.name(), ws);
    EmitPullRequest(txn, pr);
    EmitRun(txn, cur);
    EmitStatus(txn, ws, cur.name());
    return absl::OkStatus();
  });
  return r.status();
}

core::Reply<v1::PullRequest> ResourcingEngine::ApprovePullRequest(const Principal& caller,
                                                                  const v1::ApprovePullRequestRequest& request) {
  if (caller.role != Role::kAdmin) {
    return absl::PermissionDeniedError("approving a pull request needs the admin role");
  }
  if (request.request_id().empty()) return absl::InvalidArgumentError("request_id: required");
  ASSIGN_OR_RETURN(v1::PullRequest pr, GetPullRequest(request.name()));
  if (pr.state() == v1::PullRequest::MERGED) {  // approving twice changes nothing
    ASSIGN_OR_RETURN(bool seen, AnsweredBefore(kScopeApprove, request.request_id(), request.name()));
    return core::MaybeReplayed<v1::PullRequest>(pr, seen);
  }
  if (pr.state() == v1::PullRequest::ABANDONED) {
    return absl::FailedPreconditionError(absl::StrCat(pr.name(), " was abandoned by ", pr.closed_by(),
                                                      "; submit the workspace request again for a new one"));
  }
  const std::string branch = Branch(pr);
  MergeOutcome merged;
  {
    std::lock_guard<std::mutex> lock(infra_write_mu_);
    for (int attempt = 1;; ++attempt) {
      RETURN_IF_ERROR(infra_->Fetch());
      ASSIGN_OR_RETURN(std::optional<std::string> main, infra_->BranchCommit(options_.main_branch));
      ASSIGN_OR_RETURN(std::optional<std::string> source, infra_->BranchCommit(branch));
      if (!main.has_value() || !source.has_value()) {
        return absl::FailedPreconditionError(absl::StrCat("branch ", main.has_value() ? branch : options_.main_branch,
                                                          " no longer exists on the remote; abandon ", pr.name()));
      }
      const Signature committer{caller.name, absl::StrCat(caller.name, "@switchboard.local")};
      ASSIGN_OR_RETURN(merged, infra_->Merge(*main, *source, committer,
                                             absl::StrCat("Merged PR ", pr.id(), ": ", pr.title())));
      if (!merged.conflicts.empty()) {
        auto r = Transact(store_, request.request_id(), [&](Txn& txn) -> absl::Status {
          ASSIGN_OR_RETURN(v1::PullRequest cur, txn.Must<v1::PullRequest>(kPullRequestKind, pr.name()));
          cur.clear_conflicts();
          for (const auto& c : merged.conflicts) cur.add_conflicts(c);
          SetNow(cur.mutable_update_time());
          txn.Put(kPullRequestKind, cur.name(), cur);
          EmitPullRequest(txn, cur);
          return absl::OkStatus();
        });
        RETURN_IF_ERROR(r.status());
        return absl::FailedPreconditionError(absl::StrCat(
            pr.name(), " conflicts with ", options_.main_branch, " in ", absl::StrJoin(merged.conflicts, ", "),
            "; it stays active: resolve the conflict on branch ", branch, " and approve again"));
      }
      if (merged.commit == *main) break;  // already merged (an approval that crashed after its push)
      if (options_.before_push) options_.before_push(options_.main_branch);
      absl::Status p = infra_->Push(merged.commit, options_.main_branch);
      if (p.code() == absl::StatusCode::kAborted && attempt < options_.push_attempts) continue;
      RETURN_IF_ERROR(p);
      break;
    }
  }
  std::vector<std::pair<std::string, std::string>> runs;  // name, workspace
  auto r = Transact(
      store_, request.request_id(),
      [&](Txn& txn) -> absl::Status {
        ASSIGN_OR_RETURN(v1::PullRequest cur, txn.Must<v1::PullRequest>(kPullRequestKind, pr.name()));
        if (cur.state() != v1::PullRequest::ACTIVE) {
          pr = cur;
          txn.set_response(cur.SerializeAsString());
          return absl::OkStatus();
        }
        cur.set_state(v1::PullRequest::MERGED);
        cur.set_closed_by(caller.name);
        cur.set_merge_commit(merged.commit);
        cur.clear_conflicts();
        SetNow(cur.mutable_update_time());
        txn.Put(kPullRequestKind, cur.name(), cur);
        txn.Erase(kActivePrKind, AcronymOf(cur.workspace()));
        ASSIGN_OR_RETURN(v1::Workspace ws, txn.Must<v1::Workspace>(kWorkspaceKind, cur.workspace()));
        for (const auto& run_name : cur.runs()) {
          ASSIGN_OR_RETURN(v1::Run run, txn.Must<v1::Run>(kRunKind, run_name));
          if (run.state() != v1::Run::AWAITING_APPROVAL) continue;
          for (const auto& t : run.templates()) {
            if (t.status() == v1::PENDING_APPROVAL) {
              SetTemplateStatus(&ws, &run, t.template_(), v1::IN_PROGRESS,
                                absl::StrCat("approved by ", caller.name));
            }
          }
          run.set_state(v1::Run::PIPELINE_RUNNING);
          run.set_pipeline_commit(merged.commit);
          Touch(&run);
          txn.Put(kRunKind, run_name, run);
          EmitRun(txn, run);
          runs.emplace_back(run_name, run.workspace());
        }
        Touch(&ws);
        txn.Put(kWorkspaceKind, ws.name(), ws);
        EmitPullRequest(txn, cur);
        EmitStatus(txn, ws, runs.empty() ? ws.last_run() : runs.front().first);
        pr = cur;
        txn.set_response(cur.SerializeAsString());
        return absl::OkStatus();
      },
      kScopeApprove, request.name());
  if (!r.ok()) return r.status();
  if (r->replayed) return core::MaybeReplayed(GetPullRequest(pr.name()), true);
  log::Info("pull request merged", {{"pull_request", pr.name()},
                                    {"by", caller.name},
                                    {"commit", merged.commit},
                                    {"fast_forward", merged.fast_forward}});
  prs_->Closed(pr).IgnoreError();
  {
    // Like Azure DevOps' "delete source branch": the next request for the
    // workspace starts again from main.
    std::lock_guard<std::mutex> lock(infra_write_mu_);
    absl::Status d = infra_->DeleteRemoteBranch(branch);
    if (!d.ok()) log::Warn("cannot delete merged branch", {{"branch", branch}, {"error", d.ToString()}});
  }
  for (const auto& [run, ws] : runs) Enqueue(run, ws);
  return pr;
}

core::Reply<v1::PullRequest> ResourcingEngine::AbandonPullRequest(const Principal& caller,
                                                                  const v1::AbandonPullRequestRequest& request) {
  if (caller.role != Role::kAdmin) {
    return absl::PermissionDeniedError("abandoning a pull request needs the admin role");
  }
  if (request.request_id().empty()) return absl::InvalidArgumentError("request_id: required");
  ASSIGN_OR_RETURN(v1::PullRequest pr, GetPullRequest(request.name()));
  if (pr.state() == v1::PullRequest::ABANDONED) {
    ASSIGN_OR_RETURN(bool seen, AnsweredBefore(kScopeAbandon, request.request_id(), request.name()));
    return core::MaybeReplayed<v1::PullRequest>(pr, seen);
  }
  if (pr.state() == v1::PullRequest::MERGED) {
    return absl::FailedPreconditionError(absl::StrCat(pr.name(), " is already merged; it cannot be abandoned"));
  }
  const std::string why = absl::StrCat(pr.name(), " was abandoned by ", caller.name,
                                       request.comment().empty() ? "" : absl::StrCat(": ", request.comment()));
  auto r = Transact(
      store_, request.request_id(),
      [&](Txn& txn) -> absl::Status {
        ASSIGN_OR_RETURN(v1::PullRequest cur, txn.Must<v1::PullRequest>(kPullRequestKind, pr.name()));
        if (cur.state() != v1::PullRequest::ACTIVE) {
          pr = cur;
          return absl::OkStatus();
        }
        cur.set_state(v1::PullRequest::ABANDONED);
        cur.set_closed_by(caller.name);
        SetNow(cur.mutable_update_time());
        txn.Put(kPullRequestKind, cur.name(), cur);
        txn.Erase(kActivePrKind, AcronymOf(cur.workspace()));
        ASSIGN_OR_RETURN(v1::Workspace ws, txn.Must<v1::Workspace>(kWorkspaceKind, cur.workspace()));
        for (const auto& run_name : cur.runs()) {
          ASSIGN_OR_RETURN(v1::Run run, txn.Must<v1::Run>(kRunKind, run_name));
          if (run.state() != v1::Run::AWAITING_APPROVAL) continue;
          for (const auto& t : run.templates()) {
            if (!IsTerminal(t.status())) SetTemplateStatus(&ws, &run, t.template_(), v1::FAILED, why);
          }
          run.set_state(v1::Run::FAILED);
          run.set_error(why);
          Touch(&run);
          auto* open = ws.mutable_open_runs();
          open->erase(std::remove(open->begin(), open->end(), run_name), open->end());
          txn.Put(kRunKind, run_name, run);
          EmitRun(txn, run);
        }
        Touch(&ws);
        txn.Put(kWorkspaceKind, ws.name(), ws);
        EmitPullRequest(txn, cur);
        EmitStatus(txn, ws, cur.runs().empty() ? ws.last_run() : cur.runs(0));
        pr = cur;
        txn.set_response(cur.name());
        return absl::OkStatus();
      },
      kScopeAbandon, request.name());
  if (!r.ok()) return r.status();
  if (r->replayed) return core::MaybeReplayed(GetPullRequest(pr.name()), true);
  prs_->Closed(pr).IgnoreError();
  {
    std::lock_guard<std::mutex> lock(infra_write_mu_);
    absl::Status d = infra_->DeleteRemoteBranch(Branch(pr));
    if (!d.ok()) log::Warn("cannot delete abandoned branch", {{"branch", Branch(pr)}, {"error", d.ToString()}});
  }
  return pr;
}

absl::StatusOr<bool> ResourcingEngine::AnsweredBefore(const std::string& scope, const std::string& request_id,
                                                      const std::string& fingerprint) {
  // Nothing to write: the transaction only looks up (or keeps) the request_id.
  auto r = Transact(store_, request_id, [](Txn&) { return absl::OkStatus(); }, scope, fingerprint);
  if (!r.ok()) return r.status();
  return r->replayed;
}

}  // namespace switchboard::resourcing
