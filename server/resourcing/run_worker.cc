// The run worker: one pass of a run from its last checkpoint. Every step
// ends in a store transaction, so after a crash the run resumes at the step
// it was in, and re-applying a step makes no duplicate commit (a template
// whose files are already in the tree makes no commit).
//
// A pass runs with its run's job lease (run_jobs.h), taken when it loads
// the run: every checkpoint renews it, and the transaction that ends the run
// completes the job. Once the lease was taken over, the store refuses the
// pass's writes ("lease lost") and the pass stops where it is: the job's new
// holder carries the run on.
//
// A pass is a chain of steps, each posted where its work belongs: git on
// the repository's strand (modules, then infrastructure), the pipeline
// command and reads on the "resourcing" pool, and commits through
// CommitAsync, whose callback starts the next step. No step waits for
// another, so a pass holds a thread only while one of its steps runs.

#include <algorithm>
#include <filesystem>
#include <memory>

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
#include "server/resourcing/run_jobs.h"
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

class ResourcingEngine::RunPass : public std::enable_shared_from_this<RunPass> {
 public:
  RunPass(ResourcingEngine* engine, std::string name, std::function<void()> finished)
      : e_(engine), name_(std::move(name)), finished_(std::move(finished)) {}

  void Start() { OnWork(&RunPass::Load); }

 private:
  using Step = void (RunPass::*)();

  // Where the next step runs. A refusal (pool full, or stopping) ends the
  // pass as a retryable failure.
  void OnWork(Step step) {
    auto self = shared_from_this();
    if (!e_->OnWorkPool([self, step] { (self.get()->*step)(); })) End(e_->Refused("resourcing"));
  }
  void OnStrand(core::Strand& strand, Step step) {
    auto self = shared_from_this();
    if (!strand.Post([self, step] { (self.get()->*step)(); })) End(e_->Refused("git"));
  }
  bool Stopping() const { return e_->stop_flag_.load(); }

  // The end of the pass: a retryable failure schedules the next attempt,
  // another fails the run; stopping leaves the run at its checkpoint, and a
  // lost lease leaves it to the job's new holder.
  void End(absl::Status s) {
    if (s.ok() || Stopping()) return Finish();
    if (IsLeaseLost(s)) return LeaseLost(s);
    auto self = shared_from_this();
    if (s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kResourceExhausted) {
      e_->RetryLater(name_, s, lease_, [self](absl::Status r) {
        if (r.ok() || IsLeaseLost(r)) return self->End(r);
        self->Fail(r);
      });
      return;
    }
    Fail(s);
  }
  void Fail(const absl::Status& s) {
    auto self = shared_from_this();
    e_->FailRun(name_, s, lease_, [self](absl::Status f) {
      if (IsLeaseLost(f)) return self->LeaseLost(f);
      if (!f.ok()) log::Error("cannot record run failure", {{"run", self->name_}, {"error", f.ToString()}});
      self->Finish();
    });
  }
  void LeaseLost(const absl::Status& s) {
    log::Warn("run pass stopped: its job's lease was taken over; the new holder carries the run on",
              {{"run", name_}, {"claim", lease_.token}, {"error", s.ToString()}});
    e_->jobs_->Drop(name_, lease_.token);
    Finish();
  }
  void Finish() {
    std::function<void()> f = std::move(finished_);
    finished_ = nullptr;
    if (!f) return;
    if (e_->options_.after_pass) e_->options_.after_pass(name_);
    f();  // may let Stop return: the engine is not touched after it
  }

  // Commits a checkpoint: `body` in one transaction that also renews the
  // lease (and is refused, writing nothing, if the lease was taken over);
  // then `then`. A failed commit ends the pass. Once the run's job is
  // complete (the pipeline's report ended the run), there is no lease left
  // to renew.
  void Checkpoint(std::function<absl::Status(Txn&)> body, std::function<void()> then) {
    auto self = shared_from_this();
    std::optional<core::JobWrite> renew;
    if (!job_done_) renew = e_->Renew(lease_);
    TransactAsync(
        e_->store_, run_.request_id(),
        [body = std::move(body), renew](Txn& txn) -> absl::Status {
          RETURN_IF_ERROR(body(txn));
          if (renew.has_value()) txn.AddJob(*renew);
          return absl::OkStatus();
        },
        [self, then = std::move(then)](absl::StatusOr<core::CommitResult> r) {
          if (!r.ok()) return self->End(r.status());
          if (!r->jobs.empty() && r->jobs.back().job_id > 0) self->lease_ = r->jobs.back();
          self->e_->KeepRenewed(self->name_, *r, r->jobs.size() - 1);
          then();
        });
  }

  // On the resourcing pool: the run from its last checkpoint, with the
  // lease this process holds on its job.
  void Load() {
    std::optional<core::JobLease> held = e_->jobs_->Held(name_);
    if (!held.has_value()) {
      log::Warn("run not carried on here: this process holds no lease on its job", {{"run", name_}});
      return Finish();
    }
    lease_ = *held;
    auto run = LoadRecord<v1::Run>(*e_->store_, kRunKind, name_);
    if (absl::IsNotFound(run.status())) {
      // A job without its run: nothing will ever finish it.
      auto self = shared_from_this();
      log::Error("run job without its run; failing the job", {{"run", name_}});
      e_->store_->jobs().Fail(lease_, run.status().ToString(), [self](absl::Status s) {
        if (s.ok()) self->e_->jobs_->Drop(self->name_, self->lease_.token);
        self->Finish();
      });
      return;
    }
    if (!run.ok()) {
      // Held still: tried again when the lease is next claimed.
      log::Error("cannot load run", {{"run", name_}, {"error", run.status().ToString()}});
      return Finish();
    }
    run_ = *std::move(run);
    acronym_ = run_.workspace_spec().acronym();
    folder_ = ProjectFolder(acronym_);
    switch (run_.state()) {
      case v1::Run::QUEUED:
      case v1::Run::APPLYING:
      case v1::Run::RETRYING:
        return Applying();
      case v1::Run::PIPELINE_RUNNING:
        return Pipeline();
      case v1::Run::SUCCEEDED:
      case v1::Run::FAILED:
        return CompleteJob();
      default:
        return Finish();  // waiting for an admin; the lease is kept (and renewed) until then
    }
  }

  // The run ended, but its job did not with it (its end was recorded by a
  // call while this process did not hold the lease): completes it now.
  void CompleteJob() {
    auto self = shared_from_this();
    e_->store_->jobs().Complete(lease_, [self](absl::Status s) {
      if (IsLeaseLost(s)) return self->LeaseLost(s);
      if (!s.ok()) log::Error("cannot complete an ended run's job", {{"run", self->name_}, {"error", s.ToString()}});
      self->e_->jobs_->Drop(self->name_, self->lease_.token);
      self->Finish();
    });
  }

  // ---- Apply: copy, commit and push; then open the PR or go on to the
  // pipeline.

  void Applying() {
    auto run = std::make_shared<v1::Run>();
    auto self = shared_from_this();
    Checkpoint(
        [name = name_, run](Txn& txn) -> absl::Status {
          ASSIGN_OR_RETURN(v1::Run cur, txn.Must<v1::Run>(kRunKind, name));
          cur.set_state(v1::Run::APPLYING);
          cur.set_attempts(cur.attempts() + 1);
          Touch(&cur);
          txn.Put(kRunKind, name, cur);
          EmitRun(txn, cur);
          *run = cur;
          return absl::OkStatus();
        },
        [self, run] {
          self->run_ = *run;
          self->OnStrand(*self->e_->modules_strand_, &RunPass::ReadTemplates);
        });
  }

  // Modules strand. Templates are read and resolved before any git write,
  // so that a bad one fails the run with nothing written.
  void ReadTemplates() {
    if (Stopping()) return End(absl::CancelledError("server stopping"));
    if (absl::Status s = e_->modules_->Fetch(); !s.ok()) return End(s);
    const ResourcingOptions& o = e_->options_;
    for (const auto& m : run_.modules()) {
      auto t = LoadTemplate(*e_->modules_, o.templates_dir, o.main_branch, m.name(), m.version());
      if (!t.ok()) return End(Annotate(t.status(), absl::StrCat("template ", m.name())));
      // Overrides are keyed by the canonical name (options.cc); runs recorded
      // before the alias was read as such may hold new-project-template.
      if (auto ov = o.approval_overrides.find(CanonicalTemplate(m.name())); ov != o.approval_overrides.end()) {
        t->policy = ov->second;
      }
      auto vars = ResolveVariables(*t, run_.workspace_spec(), run_.requesting_user_email(), o.terraform_variables);
      if (!vars.ok()) return End(vars.status());
      needs_approval_ = needs_approval_ || t->policy == v1::APPROVAL_REQUIRED;
      templates_.push_back(std::move(*t));
      tfvars_.push_back(std::move(*vars));
    }
    // A run lands as a unit: if any of its templates needs approval, all of
    // them go through the pull request.
    branch_ = needs_approval_ ? acronym_ : o.main_branch;
    OnStrand(*e_->infra_strand_, &RunPass::WriteInfra);
  }

  // Infrastructure strand: fetch, commit, push (rebased and retried when the
  // push loses a race). No other git write to the repository runs meanwhile.
  void WriteInfra() {
    const ResourcingOptions& o = e_->options_;
    GitRepo& infra = *e_->infra_;
    const Signature author{run_.requesting_user_email(), run_.requesting_user_email()};
    auto write = [&]() -> absl::Status {
      for (int attempt = 1;; ++attempt) {
        if (Stopping()) return absl::CancelledError("server stopping");
        RETURN_IF_ERROR(infra.Fetch());
        ASSIGN_OR_RETURN(std::optional<std::string> main, infra.BranchCommit(o.main_branch));
        if (!main.has_value()) {
          return absl::FailedPreconditionError(
              absl::StrCat("the infrastructure repository has no branch ", o.main_branch));
        }
        main_head_ = *main;
        std::string base = *main;
        if (needs_approval_) {
          ASSIGN_OR_RETURN(std::optional<std::string> b, infra.BranchCommit(branch_));
          if (b.has_value()) base = *b;
        }
        ASSIGN_OR_RETURN(bool has_folder, infra.HasPath(base, folder_));
        commits_.clear();
        head_ = base;
        for (size_t i = 0; i < templates_.size(); ++i) {
          const auto& t = templates_[i];
          if (!IsWorkspaceTemplate(t.name) && !has_folder) {
            return absl::FailedPreconditionError(absl::StrCat(
                "template ", t.name, " needs the workspace folder ", folder_, ", which does not exist yet on ",
                branch_, "; request templates/new-workspace-template for ", acronym_, " first"));
          }
          auto files = RenderTemplate(t, acronym_, branch_, tfvars_[i]);
          ASSIGN_OR_RETURN(std::optional<std::string> c,
                           infra.CommitFiles(head_, files, author, absl::StrCat("Committing ", t.name, " changes")));
          if (c.has_value()) {
            commits_.push_back(*c);
            head_ = *c;
          }
          has_folder = true;
        }
        if (head_ != base) {
          if (o.before_push) o.before_push(branch_);
          absl::Status p = infra.Push(head_, branch_);
          if (p.code() == absl::StatusCode::kAborted && attempt < o.push_attempts) {
            log::Info("push lost a race; fetching and rebasing",
                      {{"run", name_}, {"branch", branch_}, {"attempt", attempt}});
            continue;
          }
          RETURN_IF_ERROR(p);
        }
        if (needs_approval_) {
          ASSIGN_OR_RETURN(bool merged, infra.Contains(main_head_, head_));
          branch_ahead_ = !merged;
        }
        return absl::OkStatus();
      }
    };
    if (absl::Status s = write(); !s.ok()) return End(s);
    for (const auto& t : templates_) {
      v1::TemplateStatus ts;
      ts.set_template_(t.name);
      ts.set_approval_policy(t.policy);
      statuses_.push_back(ts);
    }
    // Checkpoint: the commits are on the remote.
    auto run = std::make_shared<v1::Run>();
    auto self = shared_from_this();
    Checkpoint(
        [name = name_, commits = commits_, branch = branch_, run](Txn& txn) -> absl::Status {
          ASSIGN_OR_RETURN(v1::Run cur, txn.Must<v1::Run>(kRunKind, name));
          for (const auto& c : commits) cur.add_commits(c);
          cur.set_branch(branch);
          cur.clear_error();
          Touch(&cur);
          txn.Put(kRunKind, name, cur);
          *run = cur;
          return absl::OkStatus();
        },
        [self, run] {
          self->run_ = *run;
          if (self->needs_approval_ && self->branch_ahead_) return self->OnWork(&RunPass::OpenPullRequest);
          self->Land();
        });
  }

  // On the resourcing pool (it reads, and the provider may call out).
  void OpenPullRequest() {
    auto self = shared_from_this();
    e_->OpenOrReusePullRequest(run_, statuses_, lease_, [self](absl::Status s) { self->End(s); });
  }

  // Landed on main (or nothing to change): In Progress, then the pipeline.
  void Land() {
    auto run = std::make_shared<v1::Run>();
    auto self = shared_from_this();
    Checkpoint(
        [name = name_, statuses = statuses_, commit = needs_approval_ ? main_head_ : head_,
         run](Txn& txn) -> absl::Status {
          ASSIGN_OR_RETURN(v1::Run cur, txn.Must<v1::Run>(kRunKind, name));
          ASSIGN_OR_RETURN(v1::Workspace ws, txn.Must<v1::Workspace>(kWorkspaceKind, cur.workspace()));
          for (const auto& st : statuses) {
            SetTemplateStatus(&ws, &cur, st.template_(), v1::IN_PROGRESS, "", st.approval_policy());
          }
          cur.set_state(v1::Run::PIPELINE_RUNNING);
          cur.set_pipeline_commit(commit);
          Touch(&cur);
          Touch(&ws);
          txn.Put(kRunKind, name, cur);
          txn.Put(kWorkspaceKind, ws.name(), ws);
          EmitRun(txn, cur);
          EmitStatus(txn, ws, name);
          *run = cur;
          return absl::OkStatus();
        },
        [self, run] {
          self->run_ = *run;
          self->Pipeline();
        });
  }

  // ---- Pipeline: export main's project folder, run the command, apply
  // its outputs as a report.

  void Pipeline() {
    if (e_->pipeline_ == nullptr) return End(absl::OkStatus());  // an external pipeline reports
    OnStrand(*e_->infra_strand_, &RunPass::Export);
  }

  // Infrastructure strand.
  void Export() {
    if (Stopping()) return End(absl::CancelledError("server stopping"));
    GitRepo& infra = *e_->infra_;
    if (absl::Status s = infra.Fetch(); !s.ok()) return End(s);
    auto main = infra.BranchCommit(e_->options_.main_branch);
    if (!main.ok()) return End(main.status());
    if (!main->has_value()) {
      return End(absl::FailedPreconditionError("the infrastructure repository lost its main branch"));
    }
    commit_ = **main;
    dir_ = (std::filesystem::path(e_->options_.work_dir) / "checkouts" /
            absl::StrCat(name_.substr(5), "-", acronym_)).string();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (absl::Status s = infra.Export(commit_, folder_, dir_); !s.ok()) return End(s);
    pe_.set_run(name_);
    pe_.set_project_folder(folder_);
    pe_.set_commit(commit_);
    pe_.set_phase(v1::PipelineEvent::STARTED);
    auto self = shared_from_this();
    Checkpoint(
        [ws = run_.workspace(), pe = pe_](Txn& txn) -> absl::Status {
          EmitPipeline(txn, ws, pe);
          return absl::OkStatus();
        },
        [self] { self->OnWork(&RunPass::RunCommand); });
  }

  // On the resourcing pool: the command holds this thread until it ends (or is
  // killed at its timeout, or when the server stops).
  void RunCommand() {
    if (Stopping()) return End(absl::CancelledError("server stopping"));
    auto result = e_->pipeline_->Run(dir_, acronym_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (Stopping()) return End(absl::CancelledError("server stopping; the pipeline runs again after the restart"));
    if (!result.ok()) return End(Annotate(result.status(), "pipeline"));
    result_ = *std::move(result);

    v1::ReportPipelineOutputsRequest report;
    if (result_.exit_code != 0) {
      outcome_ = absl::AbortedError(absl::StrCat("pipeline exited with ", result_.exit_code, ": ",
                                                 result_.stderr_tail));
    } else {
      nlohmann::json j = nlohmann::json::parse(result_.stdout_text, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        outcome_ = absl::DataLossError(absl::StrCat(
            "pipeline output is not a terraform output -json object; stderr: ", result_.stderr_tail));
      } else {
        for (auto it = j.begin(); it != j.end(); ++it) {
          if (!it.value().is_object() || !it.value().contains("value")) {
            outcome_ = absl::DataLossError(absl::StrCat("pipeline output '", it.key(), "' lacks a value"));
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
    if (!outcome_.ok()) return PipelineEnded();
    auto& cd = (*report.mutable_outputs())["project_cd"];
    if (!cd.has_value()) {
      cd.mutable_value()->set_string_value(acronym_);
      cd.mutable_type()->set_string_value("string");
    }
    report.set_request_id(absl::StrCat("pipeline:", name_, ":", commit_));
    auto self = shared_from_this();
    e_->ApplyReportTxn(report, name_, "", lease_, [self](core::Reply<v1::ReportPipelineOutputsResponse> applied) {
      if (IsLeaseLost(applied.status())) return self->LeaseLost(applied.status());
      // The report ended the run, and completed its job (TransactEnding
      // dropped the lease).
      self->job_done_ = applied.ok() && !self->e_->jobs_->Held(self->name_).has_value();
      if (!applied.ok()) self->outcome_ = Annotate(applied.status(), "pipeline report");
      self->PipelineEnded();
    });
  }

  void PipelineEnded() {
    pe_.set_phase(outcome_.ok() ? v1::PipelineEvent::SUCCEEDED : v1::PipelineEvent::FAILED);
    pe_.set_exit_code(result_.exit_code);
    if (!outcome_.ok()) pe_.set_stderr_tail(result_.stderr_tail);
    auto self = shared_from_this();
    Checkpoint(
        [ws = run_.workspace(), pe = pe_](Txn& txn) -> absl::Status {
          EmitPipeline(txn, ws, pe);
          return absl::OkStatus();
        },
        [self] {
          if (!self->outcome_.ok()) return self->End(self->outcome_);
          self->OnWork(&RunPass::CheckReported);
        });
  }

  // On the resourcing pool: templates the pipeline did not report on cannot finish
  // any other way.
  void CheckReported() {
    auto after = LoadRecord<v1::Run>(*e_->store_, kRunKind, name_);
    if (!after.ok()) return End(after.status());
    if (IsTerminalRun(after->state())) return End(absl::OkStatus());
    std::vector<std::string> silent;
    for (const auto& t : after->templates()) {
      if (!IsTerminal(t.status())) silent.push_back(t.template_());
    }
    End(absl::DataLossError(
        absl::StrCat("the pipeline's output reported no status for ", absl::StrJoin(silent, ", "))));
  }

  ResourcingEngine* const e_;
  const std::string name_;
  std::function<void()> finished_;
  // The lease on the run's job this pass writes with (renewed by each
  // checkpoint), and whether the job is complete.
  core::JobLease lease_;
  bool job_done_ = false;
  v1::Run run_;
  std::string acronym_;
  std::string folder_;
  // Apply.
  std::vector<LoadedTemplate> templates_;
  std::vector<nlohmann::json> tfvars_;
  bool needs_approval_ = false;
  std::string branch_;
  std::vector<std::string> commits_;
  std::string head_;
  std::string main_head_;
  bool branch_ahead_ = false;
  std::vector<v1::TemplateStatus> statuses_;
  // Pipeline.
  std::string commit_;
  std::string dir_;
  v1::PipelineEvent pe_;
  PipelineResult result_;
  absl::Status outcome_;
};

void ResourcingEngine::ProcessRun(const std::string& name, std::function<void()> finished) {
  std::make_shared<RunPass>(this, name, std::move(finished))->Start();
}

void ResourcingEngine::RetryLater(const std::string& name, const absl::Status& why, const core::JobLease& lease,
                                  Next next) {
  struct Seen {
    int attempts = 0;
    std::string workspace;
  };
  auto seen = std::make_shared<Seen>();
  TransactAsync(
      store_, "",
      [name, why, seen, renew = Renew(lease)](Txn& txn) -> absl::Status {
        ASSIGN_OR_RETURN(v1::Run run, txn.Must<v1::Run>(kRunKind, name));
        txn.AddJob(renew);  // kept until the retry
        seen->attempts = run.attempts();
        seen->workspace = run.workspace();
        run.set_state(v1::Run::RETRYING);
        run.set_error(absl::StrCat(CodeName(why.code()), ": ", why.message(), " (retrying automatically)"));
        Touch(&run);
        txn.Put(kRunKind, name, run);
        EmitRun(txn, run);
        return absl::OkStatus();
      },
      [this, name, why, seen, next = std::move(next)](absl::StatusOr<core::CommitResult> r) {
        if (!r.ok()) return next(r.status());
        KeepRenewed(name, *r, 0);
        int64_t delay_s = std::min<int64_t>(options_.retry_max_seconds, int64_t{1} << std::min(seen->attempts, 20));
        log::Warn("run will retry", {{"run", name}, {"in_seconds", delay_s}, {"error", std::string(why.message())}});
        Enqueue(name, seen->workspace, delay_s * 1000);
        next(absl::OkStatus());
      });
}

void ResourcingEngine::FailRun(const std::string& name, const absl::Status& why, const core::JobLease& lease,
                               Next next) {
  const std::string text = absl::StrCat(CodeName(why.code()), ": ", why.message());
  log::Warn("run failed", {{"run", name}, {"error", text}});
  TransactAsync(
      store_, "",
      [name, text, lease](Txn& txn) -> absl::Status {
        ASSIGN_OR_RETURN(v1::Run run, txn.Must<v1::Run>(kRunKind, name));
        // The run's end, and its job's.
        txn.AddJob(core::JobWrite::Complete(lease));
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
      },
      [this, name, lease, next = std::move(next)](absl::StatusOr<core::CommitResult> r) {
        if (r.ok()) jobs_->Drop(name, lease.token);
        next(r.status());
      });
}

}  // namespace switchboard::resourcing
