// Pull requests of the built-in provider: opened (or reused) by a run whose
// templates need approval, approved (merged with libgit2, pushed) or
// abandoned by an admin. The git work runs on the infrastructure
// repository's strand, the records are committed with CommitAsync, and the
// caller hears from `done`.

#include <algorithm>

#include <google/protobuf/wrappers.pb.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status.h"
#include "server/resourcing/engine.h"
#include "server/resourcing/git_repo.h"
#include "server/resourcing/list_index.h"
#include "server/resourcing/names.h"
#include "server/resourcing/pr_provider.h"
#include "server/resourcing/records.h"
#include "server/resourcing/run_jobs.h"

namespace switchboard::resourcing {
namespace {

constexpr char kScopeApprove[] = "resourcing.ApprovePullRequest";
constexpr char kScopeAbandon[] = "resourcing.AbandonPullRequest";

std::string Branch(const v1::PullRequest& pr) {
  std::string b = pr.source_branch();
  if (b.rfind("refs/heads/", 0) == 0) b = b.substr(11);
  return b;
}

// Closes `cur` in `txn` (its state `state`, by `by`; no longer its
// workspace's active PR) and hands each of its runs still awaiting approval
// to `each(ws, run, run_name)`, which puts the run; then puts the workspace
// and emits the PR. Returns the workspace.
absl::StatusOr<v1::Workspace> ClosePullRequest(
    Txn& txn, v1::PullRequest& cur, v1::PullRequest::State state, const std::string& by,
    const std::function<void(v1::Workspace&, v1::Run&, const std::string&)>& each) {
  cur.set_state(state);
  cur.set_closed_by(by);
  SetNow(cur.mutable_update_time());
  txn.Put(kPullRequestKind, cur.name(), cur);
  txn.Erase(kActivePrKind, AcronymOf(cur.workspace()));
  ASSIGN_OR_RETURN(v1::Workspace ws, txn.Must<v1::Workspace>(kWorkspaceKind, cur.workspace()));
  for (const auto& run_name : cur.runs()) {
    ASSIGN_OR_RETURN(v1::Run run, txn.Must<v1::Run>(kRunKind, run_name));
    if (run.state() == v1::Run::AWAITING_APPROVAL) each(ws, run, run_name);
  }
  Touch(&ws);
  txn.Put(kWorkspaceKind, ws.name(), ws);
  EmitPullRequest(txn, cur);
  return ws;
}

// What the merge on the strand found.
struct MergeResult {
  absl::Status status;
  MergeOutcome merged;
};

}  // namespace

void ResourcingEngine::OpenOrReusePullRequest(const v1::Run& run, const std::vector<v1::TemplateStatus>& templates,
                                              const core::JobLease& lease, Next next) {
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
  if (!existing.ok()) return next(existing.status());
  if (!existing->has_value()) {
    if (absl::Status s = prs_->Open(fresh); !s.ok()) return next(s);
  }

  TransactAsync(
      store_, run.request_id(),
      [run_name = run.name(), acronym, fresh, templates, renew = Renew(lease)](Txn& txn) -> absl::Status {
        ASSIGN_OR_RETURN(v1::Run cur, txn.Must<v1::Run>(kRunKind, run_name));
        // A checkpoint of the run's pass: the run now waits for an admin,
        // its lease kept alive here until then.
        txn.AddJob(renew);
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
          IndexPullRequest(txn, pr);
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
      },
      [this, run_name = run.name(), next = std::move(next)](absl::StatusOr<core::CommitResult> r) {
        if (r.ok()) KeepRenewed(run_name, *r, 0);
        next(r.status());
      });
}

void ResourcingEngine::DeleteBranchThen(const std::string& branch, const char* why, std::function<void()> then) {
  // Like Azure DevOps' "delete source branch": the next request for the
  // workspace starts again from main.
  bool posted = infra_strand_->Post([this, branch, why, then] {
    absl::Status d = infra_->DeleteRemoteBranch(branch);
    if (!d.ok()) log::Warn(why, {{"branch", branch}, {"error", d.ToString()}});
    then();
  });
  if (!posted) {
    log::Warn(why, {{"branch", branch}, {"error", "the git pool refused the work (full or stopping)"}});
    then();
  }
}

void ResourcingEngine::ApprovePullRequest(const Principal& caller, v1::ApprovePullRequestRequest request,
                                          Done<v1::PullRequest> done) {
  Hold hold;
  v1::PullRequest pr;  // approving twice changes nothing
  if (!StartClosing(caller, request.request_id(), request.name(), v1::PullRequest::MERGED, done, &hold, &pr)) return;
  const std::string branch = Branch(pr);
  const Signature committer{caller.name, absl::StrCat(caller.name, "@switchboard.local")};
  const std::string request_id = request.request_id();
  const std::string by = caller.name;

  // Records the merge: the PR MERGED, its waiting runs on to the pipeline.
  auto record = [this, hold, pr, branch, request_id, by, done](const MergeOutcome& merged) {
    auto out = std::make_shared<v1::PullRequest>(pr);
    auto runs = std::make_shared<std::vector<std::pair<std::string, std::string>>>();  // name, workspace
    TransactAsync(
        store_, request_id,
        [this, out, runs, by, commit = merged.commit](Txn& txn) -> absl::Status {
          ASSIGN_OR_RETURN(v1::PullRequest cur, txn.Must<v1::PullRequest>(kPullRequestKind, out->name()));
          if (cur.state() != v1::PullRequest::ACTIVE) {
            *out = cur;
            txn.set_response(cur.SerializeAsString());
            return absl::OkStatus();
          }
          cur.set_merge_commit(commit);
          cur.clear_conflicts();
          auto approve = [&](v1::Workspace& ws, v1::Run& run, const std::string& run_name) {
            for (const auto& t : run.templates()) {
              if (t.status() == v1::PENDING_APPROVAL) {
                SetTemplateStatus(&ws, &run, t.template_(), v1::IN_PROGRESS, absl::StrCat("approved by ", by));
              }
            }
            run.set_state(v1::Run::PIPELINE_RUNNING);
            run.set_pipeline_commit(commit);
            Touch(&run);
            txn.Put(kRunKind, run_name, run);
            EmitRun(txn, run);
            runs->emplace_back(run_name, run.workspace());
            // Held by another replica (or by nobody): woken, so that its
            // holder lets go and the next claim carries it on to the pipeline.
            if (!jobs_->Held(run_name).has_value()) txn.AddJob(core::JobWrite::Wake(kRunJobKind, run_name));
          };
          ASSIGN_OR_RETURN(v1::Workspace ws, ClosePullRequest(txn, cur, v1::PullRequest::MERGED, by, approve));
          EmitStatus(txn, ws, runs->empty() ? ws.last_run() : runs->front().first);
          *out = cur;
          txn.set_response(cur.SerializeAsString());
          return absl::OkStatus();
        },
        [this, hold, out, runs, branch, by, merged, done](absl::StatusOr<core::CommitResult> r) {
          if (!r.ok()) return done(r.status());
          if (r->replayed) return AnswerReplayed(hold, out->name(), done);
          log::Info("pull request merged", {{"pull_request", out->name()},
                                            {"by", by},
                                            {"commit", merged.commit},
                                            {"fast_forward", merged.fast_forward}});
          DeleteBranchThen(branch, "cannot delete merged branch", [this, hold, out, runs, done] {
            prs_->Closed(*out).IgnoreError();
            bool woken = false;
            for (const auto& [run, ws] : *runs) {
              if (jobs_->Held(run).has_value()) {
                Enqueue(run, ws);
              } else {
                woken = true;
              }
            }
            if (woken) jobs_->Poke();  // claims the woken runs here, unless another replica is quicker
            done(*out);
          });
        },
        kScopeApprove, pr.name());
  };

  // Records the conflicts on the PR, which stays active.
  auto conflicted = [this, hold, pr, branch, request_id, done](const MergeOutcome& merged) {
    TransactAsync(
        store_, request_id,
        [name = pr.name(), conflicts = merged.conflicts](Txn& txn) -> absl::Status {
          ASSIGN_OR_RETURN(v1::PullRequest cur, txn.Must<v1::PullRequest>(kPullRequestKind, name));
          cur.clear_conflicts();
          for (const auto& c : conflicts) cur.add_conflicts(c);
          SetNow(cur.mutable_update_time());
          txn.Put(kPullRequestKind, cur.name(), cur);
          EmitPullRequest(txn, cur);
          return absl::OkStatus();
        },
        [this, hold, pr, branch, conflicts = merged.conflicts, done](absl::StatusOr<core::CommitResult> r) {
          if (!r.ok()) return done(r.status());
          done(absl::FailedPreconditionError(absl::StrCat(
              pr.name(), " conflicts with ", options_.main_branch, " in ", absl::StrJoin(conflicts, ", "),
              "; it stays active: resolve the conflict on branch ", branch, " and approve again")));
        });
  };

  // The merge and its push, on the infrastructure strand: no other git
  // write to that repository runs meanwhile, and no thread waits for it.
  bool posted = infra_strand_->Post([this, hold, pr, branch, committer, record, conflicted, done] {
    auto merge = [&]() -> absl::StatusOr<MergeOutcome> {
      MergeOutcome merged;
      for (int attempt = 1;; ++attempt) {
        RETURN_IF_ERROR(infra_->Fetch());
        ASSIGN_OR_RETURN(std::optional<std::string> main, infra_->BranchCommit(options_.main_branch));
        ASSIGN_OR_RETURN(std::optional<std::string> source, infra_->BranchCommit(branch));
        if (!main.has_value() || !source.has_value()) {
          return absl::FailedPreconditionError(absl::StrCat("branch ",
                                                            main.has_value() ? branch : options_.main_branch,
                                                            " no longer exists on the remote; abandon ", pr.name()));
        }
        ASSIGN_OR_RETURN(merged, infra_->Merge(*main, *source, committer,
                                               absl::StrCat("Merged PR ", pr.id(), ": ", pr.title())));
        if (!merged.conflicts.empty()) return merged;
        if (merged.commit == *main) return merged;  // already merged (an approval that crashed after its push)
        if (options_.before_push) options_.before_push(options_.main_branch);
        absl::Status p = infra_->Push(merged.commit, options_.main_branch);
        if (p.code() == absl::StatusCode::kAborted && attempt < options_.push_attempts) continue;
        RETURN_IF_ERROR(p);
        return merged;
      }
    };
    absl::StatusOr<MergeOutcome> merged = merge();
    if (!merged.ok()) return done(merged.status());
    if (!merged->conflicts.empty()) return conflicted(*merged);
    record(*merged);
  });
  if (!posted) done(Refused("git"));
}

void ResourcingEngine::AbandonPullRequest(const Principal& caller, v1::AbandonPullRequestRequest request,
                                          Done<v1::PullRequest> done) {
  Hold hold;
  v1::PullRequest pr;
  if (!StartClosing(caller, request.request_id(), request.name(), v1::PullRequest::ABANDONED, done, &hold, &pr)) return;
  const std::string why = absl::StrCat(pr.name(), " was abandoned by ", caller.name,
                                       request.comment().empty() ? "" : absl::StrCat(": ", request.comment()));
  auto out = std::make_shared<v1::PullRequest>(pr);
  TransactEnding(
      request.request_id(),
      [out, why, by = caller.name](Txn& txn, EndingJobs& jobs) -> absl::Status {
        ASSIGN_OR_RETURN(v1::PullRequest cur, txn.Must<v1::PullRequest>(kPullRequestKind, out->name()));
        if (cur.state() != v1::PullRequest::ACTIVE) {
          *out = cur;
          return absl::OkStatus();
        }
        auto abandon = [&](v1::Workspace& ws, v1::Run& run, const std::string& run_name) {
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
          jobs.Ended(txn, run_name);
        };
        ASSIGN_OR_RETURN(v1::Workspace ws, ClosePullRequest(txn, cur, v1::PullRequest::ABANDONED, by, abandon));
        EmitStatus(txn, ws, cur.runs().empty() ? ws.last_run() : cur.runs(0));
        *out = cur;
        txn.set_response(cur.name());
        return absl::OkStatus();
      },
      [this, hold, out, done](absl::StatusOr<core::CommitResult> r) {
        if (!r.ok()) return done(r.status());
        if (r->replayed) return AnswerReplayed(hold, out->name(), done);
        DeleteBranchThen(Branch(*out), "cannot delete abandoned branch", [this, hold, out, done] {
          prs_->Closed(*out).IgnoreError();
          done(*out);
        });
      },
      kScopeAbandon, request.name(), "", std::nullopt);
}

bool ResourcingEngine::StartClosing(const Principal& caller, const std::string& request_id, const std::string& name,
                                    v1::PullRequest::State settled, const Done<v1::PullRequest>& done, Hold* hold,
                                    v1::PullRequest* pr) {
  const bool approving = settled == v1::PullRequest::MERGED;
  const char* doing = approving ? "approving" : "abandoning";
  const char* scope = approving ? kScopeApprove : kScopeAbandon;
  if (caller.role != Role::kAdmin) {
    done(absl::PermissionDeniedError(absl::StrCat(doing, " a pull request needs the admin role")));
    return false;
  }
  if (request_id.empty()) {
    done(absl::InvalidArgumentError("request_id: required"));
    return false;
  }
  *hold = Acquire();
  if (*hold == nullptr) {
    done(Refused("resourcing"));
    return false;
  }
  absl::StatusOr<v1::PullRequest> found = GetPullRequest(name);
  if (!found.ok()) {
    done(found.status());
    return false;
  }
  *pr = *std::move(found);
  if (pr->state() == settled) {
    AnsweredBefore(scope, request_id, name, [hold = *hold, pr = *pr, done](absl::StatusOr<bool> seen) {
      if (!seen.ok()) return done(seen.status());
      done(core::MaybeReplayed<v1::PullRequest>(pr, *seen));
    });
    return false;
  }
  if (pr->state() == v1::PullRequest::ABANDONED) {  // approving
    done(absl::FailedPreconditionError(absl::StrCat(
        pr->name(), " was abandoned by ", pr->closed_by(), "; submit the workspace request again for a new one")));
    return false;
  }
  if (pr->state() == v1::PullRequest::MERGED) {  // abandoning
    done(absl::FailedPreconditionError(absl::StrCat(pr->name(), " is already merged; it cannot be abandoned")));
    return false;
  }
  return true;
}

void ResourcingEngine::AnswerReplayed(Hold hold, const std::string& name, Done<v1::PullRequest> done) {
  if (!OnWorkPool([this, hold, name, done] { done(core::MaybeReplayed(GetPullRequest(name), true)); })) {
    done(Refused("resourcing"));
  }
}

void ResourcingEngine::AnsweredBefore(const std::string& scope, const std::string& request_id,
                                      const std::string& fingerprint, std::function<void(absl::StatusOr<bool>)> done) {
  // Nothing to write: the transaction only looks up (or keeps) the request_id.
  TransactAsync(
      store_, request_id, [](Txn&) { return absl::OkStatus(); },
      [done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
        if (!r.ok()) return done(r.status());
        done(r->replayed);
      },
      scope, fingerprint);
}

}  // namespace switchboard::resourcing
