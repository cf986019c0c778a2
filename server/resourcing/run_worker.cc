// The run worker: one pass of a run from its last checkpoint. Every step
// ends in a store transaction, so after a crash the run resumes at the step
// it was in, and re-applying a step makes no duplicate commit (a template
// whose files are already in the tree makes no commit).

#include <algorithm>
#include <filesystem>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status.h"
#include "server/resourcing/engine.h"
#include "server/resourcing/git_repo.h"
#include "server/resourcing/names.h"
#include "server/resourcing/pipeline.h"
#include "server/resourcing/records.h"
#include "server/resourcing/report.h"
#include "server/resourcing/templates.h"

namespace switchboard::resourcing {
namespace {

constexpr char kProjectsPrefix[] = "terraform/projects";

absl::Status Annotate(const absl::Status& s, absl::string_view what) {
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

// Removes `run` from the workspace's open runs.
void CloseRun(v1::Workspace* ws, const std::string& run) {
  auto* open = ws->mutable_open_runs();
  open->erase(std::remove(open->begin(), open->end(), run), open->end());
}

}  // namespace

void ResourcingEngine::ProcessRun(const std::string& name) {
  auto run = LoadRecord<v1::Run>(*store_, kRunKind, name);
  if (!run.ok()) {
    log::Error("cannot load run", {{"run", name}, {"error", run.status().ToString()}});
    return;
  }
  absl::Status s;
  switch (run->state()) {
    case v1::Run::QUEUED:
    case v1::Run::APPLYING:
    case v1::Run::RETRYING:
      s = ApplyRun(*std::move(run));
      break;
    case v1::Run::PIPELINE_RUNNING:
      s = RunPipeline(*std::move(run));
      break;
    default:
      return;  // ended, or waiting for an admin
  }
  if (s.ok() || stop_flag_) return;
  if (s.code() == absl::StatusCode::kUnavailable) {
    absl::Status r = RetryLater(name, s);
    if (r.ok()) return;
    s = r;
  }
  absl::Status f = FailRun(name, s);
  if (!f.ok()) log::Error("cannot record run failure", {{"run", name}, {"error", f.ToString()}});
}

absl::Status ResourcingEngine::RetryLater(const std::string& name, const absl::Status& why) {
  int attempts = 0;
  auto r = Transact(store_, "", [&](Txn& txn) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Run run, txn.Must<v1::Run>(kRunKind, name));
    attempts = run.attempts();
    run.set_state(v1::Run::RETRYING);
    run.set_error(absl::StrCat(CodeName(why.code()), ": ", why.message(), " (retrying automatically)"));
    Touch(&run);
    txn.Put(kRunKind, name, run);
    EmitRun(txn, run);
    return absl::OkStatus();
  });
  if (!r.ok()) return r.status();
  int64_t delay_s = std::min<int64_t>(options_.retry_max_seconds, int64_t{1} << std::min(attempts, 20));
  log::Warn("run will retry", {{"run", name}, {"in_seconds", delay_s}, {"error", std::string(why.message())}});
  auto run = LoadRecord<v1::Run>(*store_, kRunKind, name);
  if (run.ok()) Enqueue(name, run->workspace(), delay_s * 1000);
  return absl::OkStatus();
}

absl::Status ResourcingEngine::FailRun(const std::string& name, const absl::Status& why) {
  const std::string text = absl::StrCat(CodeName(why.code()), ": ", why.message());
  log::Warn("run failed", {{"run", name}, {"error", text}});
  auto r = Transact(store_, "", [&](Txn& txn) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Run run, txn.Must<v1::Run>(kRunKind, name));
    if (IsTerminalRun(run.state())) return absl::OkStatus();
    ASSIGN_OR_RETURN(v1::Workspace ws, txn.Must<v1::Workspace>(kWorkspaceKind, run.workspace()));
    for (const auto& t : run.templates()) {
      if (!IsTerminal(t.status())) SetTemplateStatus(&ws, &run, t.template_(), v1::FAILED, text);
    }
    run.set_state(v1::Run::FAILED);
    run.set_error(text);
    Touch(&run);
    CloseRun(&ws, name);
    Touch(&ws);
    txn.Put(kRunKind, name, run);
    txn.Put(kWorkspaceKind, ws.name(), ws);
    EmitRun(txn, run);
    EmitStatus(txn, ws, name);
    return absl::OkStatus();
  });
  return r.status();
}

absl::Status ResourcingEngine::ApplyRun(v1::Run run) {
  const std::string name = run.name();
  const std::string acronym = run.workspace_spec().acronym();
  {
    auto r = Transact(store_, run.request_id(), [&](Txn& txn) -> absl::Status {
      ASSIGN_OR_RETURN(v1::Run cur, txn.Must<v1::Run>(kRunKind, name));
      cur.set_state(v1::Run::APPLYING);
      cur.set_attempts(cur.attempts() + 1);
      Touch(&cur);
      txn.Put(kRunKind, name, cur);
      EmitRun(txn, cur);
      run = cur;
      return absl::OkStatus();
    });
    RETURN_IF_ERROR(r.status());
  }

  // Templates: read and resolved before any git write, so that a bad one
  // fails the run with nothing written.
  {
    std::lock_guard<std::mutex> lock(modules_mu_);
    RETURN_IF_ERROR(modules_->Fetch());
  }
  std::vector<LoadedTemplate> templates;
  std::vector<nlohmann::json> tfvars;
  bool needs_approval = false;
  for (const auto& m : run.modules()) {
    auto t = LoadTemplate(*modules_, options_.templates_dir, options_.main_branch, m.name(), m.version());
    if (!t.ok()) return Annotate(t.status(), absl::StrCat("template ", m.name()));
    // Overrides are keyed by the canonical name (options.cc); runs recorded
    // before the alias was read as such may hold new-project-template.
    if (auto o = options_.approval_overrides.find(CanonicalTemplate(m.name()));
        o != options_.approval_overrides.end()) {
      t->policy = o->second;
    }
    auto vars = ResolveVariables(*t, run.workspace_spec(), run.requesting_user_email(), options_.terraform_variables);
    if (!vars.ok()) return vars.status();
    needs_approval = needs_approval || t->policy == v1::APPROVAL_REQUIRED;
    templates.push_back(std::move(*t));
    tfvars.push_back(std::move(*vars));
  }
  // A run lands as a unit: if any of its templates needs approval, all of
  // them go through the pull request.
  const std::string branch = needs_approval ? acronym : options_.main_branch;
  const Signature author{run.requesting_user_email(), run.requesting_user_email()};
  const std::string folder = ProjectFolder(acronym);

  std::vector<std::string> commits;
  std::string head, main_head;
  bool branch_ahead = false;
  {
    std::lock_guard<std::mutex> lock(infra_write_mu_);
    for (int attempt = 1;; ++attempt) {
      if (stop_flag_) return absl::CancelledError("server stopping");
      RETURN_IF_ERROR(infra_->Fetch());
      ASSIGN_OR_RETURN(std::optional<std::string> main, infra_->BranchCommit(options_.main_branch));
      if (!main.has_value()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the infrastructure repository has no branch ", options_.main_branch));
      }
      main_head = *main;
      std::string base = *main;
      if (needs_approval) {
        ASSIGN_OR_RETURN(std::optional<std::string> b, infra_->BranchCommit(branch));
        if (b.has_value()) base = *b;
      }
      ASSIGN_OR_RETURN(bool has_folder, infra_->HasPath(base, folder));
      commits.clear();
      head = base;
      for (size_t i = 0; i < templates.size(); ++i) {
        const auto& t = templates[i];
        if (!IsWorkspaceTemplate(t.name) && !has_folder) {
          return absl::FailedPreconditionError(absl::StrCat(
              "template ", t.name, " needs the workspace folder ", folder, ", which does not exist yet on ", branch,
              "; request templates/new-workspace-template for ", acronym, " first"));
        }
        auto files = RenderTemplate(t, acronym, branch, tfvars[i]);
        ASSIGN_OR_RETURN(std::optional<std::string> c,
                         infra_->CommitFiles(head, files, author, absl::StrCat("Committing ", t.name, " changes")));
        if (c.has_value()) {
          commits.push_back(*c);
          head = *c;
        }
        has_folder = true;
      }
      if (head != base) {
        if (options_.before_push) options_.before_push(branch);
        absl::Status p = infra_->Push(head, branch);
        if (p.code() == absl::StatusCode::kAborted && attempt < options_.push_attempts) {
          log::Info("push lost a race; fetching and rebasing", {{"run", name}, {"branch", branch}, {"attempt", attempt}});
          continue;
        }
        RETURN_IF_ERROR(p);
      }
      if (needs_approval) {
        ASSIGN_OR_RETURN(bool merged, infra_->Contains(main_head, head));
        branch_ahead = !merged;
      }
      break;
    }
  }

  std::vector<v1::TemplateStatus> statuses;
  for (const auto& t : templates) {
    v1::TemplateStatus ts;
    ts.set_template_(t.name);
    ts.set_approval_policy(t.policy);
    statuses.push_back(ts);
  }
  // Checkpoint: the commits are on the remote.
  {
    auto r = Transact(store_, run.request_id(), [&](Txn& txn) -> absl::Status {
      ASSIGN_OR_RETURN(v1::Run cur, txn.Must<v1::Run>(kRunKind, name));
      for (const auto& c : commits) cur.add_commits(c);
      cur.set_branch(branch);
      cur.clear_error();
      Touch(&cur);
      txn.Put(kRunKind, name, cur);
      run = cur;
      return absl::OkStatus();
    });
    RETURN_IF_ERROR(r.status());
  }
  if (needs_approval && branch_ahead) return OpenOrReusePullRequest(run, statuses);

  // Landed on main (or nothing to change): In Progress, then the pipeline.
  auto r = Transact(store_, run.request_id(), [&](Txn& txn) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Run cur, txn.Must<v1::Run>(kRunKind, name));
    ASSIGN_OR_RETURN(v1::Workspace ws, txn.Must<v1::Workspace>(kWorkspaceKind, cur.workspace()));
    for (const auto& st : statuses) {
      SetTemplateStatus(&ws, &cur, st.template_(), v1::IN_PROGRESS, "", st.approval_policy());
    }
    cur.set_state(v1::Run::PIPELINE_RUNNING);
    cur.set_pipeline_commit(needs_approval ? main_head : head);
    Touch(&cur);
    Touch(&ws);
    txn.Put(kRunKind, name, cur);
    txn.Put(kWorkspaceKind, ws.name(), ws);
    EmitRun(txn, cur);
    EmitStatus(txn, ws, name);
    run = cur;
    return absl::OkStatus();
  });
  RETURN_IF_ERROR(r.status());
  return RunPipeline(std::move(run));
}

absl::Status ResourcingEngine::RunPipeline(v1::Run run) {
  const std::string name = run.name();
  const std::string acronym = run.workspace_spec().acronym();
  if (pipeline_ == nullptr) return absl::OkStatus();  // an external pipeline reports
  std::string commit;
  {
    std::lock_guard<std::mutex> lock(infra_write_mu_);
    RETURN_IF_ERROR(infra_->Fetch());
    ASSIGN_OR_RETURN(std::optional<std::string> main, infra_->BranchCommit(options_.main_branch));
    if (!main.has_value()) return absl::FailedPreconditionError("the infrastructure repository lost its main branch");
    commit = *main;
  }
  const std::string folder = ProjectFolder(acronym);
  const std::string dir =
      (std::filesystem::path(options_.work_dir) / "checkouts" / absl::StrCat(name.substr(5), "-", acronym)).string();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  RETURN_IF_ERROR(infra_->Export(commit, folder, dir));
  v1::PipelineEvent pe;
  pe.set_run(name);
  pe.set_project_folder(folder);
  pe.set_commit(commit);
  pe.set_phase(v1::PipelineEvent::STARTED);
  {
    auto r = Transact(store_, run.request_id(), [&](Txn& txn) -> absl::Status {
      EmitPipeline(txn, run.workspace(), pe);
      return absl::OkStatus();
    });
    RETURN_IF_ERROR(r.status());
  }
  auto result = pipeline_->Run(dir, acronym);
  std::filesystem::remove_all(dir, ec);
  if (stop_flag_) return absl::CancelledError("server stopping; the pipeline runs again after the restart");
  if (!result.ok()) return Annotate(result.status(), "pipeline");

  absl::Status outcome;
  v1::ReportPipelineOutputsRequest report;
  if (result->exit_code != 0) {
    outcome = absl::AbortedError(absl::StrCat("pipeline exited with ", result->exit_code, ": ", result->stderr_tail));
  } else {
    nlohmann::json j = nlohmann::json::parse(result->stdout_text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      outcome = absl::DataLossError(absl::StrCat("pipeline output is not a terraform output -json object; stderr: ",
                                                 result->stderr_tail));
    } else {
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_object() || !it.value().contains("value")) {
          outcome = absl::DataLossError(absl::StrCat("pipeline output '", it.key(), "' lacks a value"));
          break;
        }
        v1::OutputValue& ov = (*report.mutable_outputs())[it.key()];
        ov.set_sensitive(it.value().value("sensitive", false));
        auto to_value = [](const nlohmann::json& x, google::protobuf::Value* out) {
          std::string text = x.dump();
          (void)google::protobuf::util::JsonStringToMessage(text, out);
        };
        if (it.value().contains("type")) to_value(it.value()["type"], ov.mutable_type());
        to_value(it.value()["value"], ov.mutable_value());
      }
    }
  }
  if (outcome.ok()) {
    auto& cd = (*report.mutable_outputs())["project_cd"];
    if (!cd.has_value()) {
      cd.mutable_value()->set_string_value(acronym);
      cd.mutable_type()->set_string_value("string");
    }
    report.set_request_id(absl::StrCat("pipeline:", name, ":", commit));
    auto applied = ApplyReportTxn(report, name);
    if (!applied.ok()) outcome = Annotate(applied.status(), "pipeline report");
  }
  pe.set_phase(outcome.ok() ? v1::PipelineEvent::SUCCEEDED : v1::PipelineEvent::FAILED);
  pe.set_exit_code(result->exit_code);
  if (!outcome.ok()) pe.set_stderr_tail(result->stderr_tail);
  {
    auto r = Transact(store_, run.request_id(), [&](Txn& txn) -> absl::Status {
      EmitPipeline(txn, run.workspace(), pe);
      return absl::OkStatus();
    });
    RETURN_IF_ERROR(r.status());
  }
  if (!outcome.ok()) return outcome;
  // Templates the pipeline did not report on cannot finish any other way.
  ASSIGN_OR_RETURN(v1::Run after, LoadRecord<v1::Run>(*store_, kRunKind, name));
  if (!IsTerminalRun(after.state())) {
    std::vector<std::string> silent;
    for (const auto& t : after.templates()) {
      if (!IsTerminal(t.status())) silent.push_back(t.template_());
    }
    return absl::DataLossError(absl::StrCat("the pipeline's output reported no status for ",
                                            absl::StrJoin(silent, ", ")));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::resourcing
