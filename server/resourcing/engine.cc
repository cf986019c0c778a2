#include "server/resourcing/engine.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "server/core/fingerprint.h"
#include "server/core/list_page.h"
#include "server/resourcing/git_repo.h"
#include "server/resourcing/list_index.h"
#include "server/resourcing/names.h"
#include "server/resourcing/pipeline.h"
#include "server/resourcing/pr_provider.h"
#include "server/resourcing/records.h"
#include "server/resourcing/run_jobs.h"
#include "server/resourcing/validation.h"

namespace switchboard::resourcing {
namespace {

constexpr char kScopeSubmit[] = "resourcing.SubmitRun";

}  // namespace

ResourcingEngine::ResourcingEngine(core::Store* store, ResourcingOptions options)
    : store_(store), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ResourcingEngine>> ResourcingEngine::Start(core::Store* store,
                                                                          core::Executor* executor,
                                                                          ResourcingOptions options) {
  std::unique_ptr<ResourcingEngine> e(new ResourcingEngine(store, std::move(options)));
  e->work_pool_ = executor->pool("resourcing");
  e->git_pool_ = executor->pool("git");
  if (e->work_pool_ == nullptr || e->git_pool_ == nullptr) {
    return absl::FailedPreconditionError("resourcing: the executor needs the pools 'git' and 'resourcing'");
  }
  RETURN_IF_ERROR(e->OpenRepositories());
  e->infra_strand_ = std::make_unique<core::Strand>(e->git_pool_);
  e->modules_strand_ = std::make_unique<core::Strand>(e->git_pool_);
  e->prs_ = std::make_unique<BuiltinPullRequests>();
  if (!e->options_.pipeline_command.empty()) {
    // A missing program does not stop the server: runs fail with this
    // message at their pipeline step until it is there.
    if (absl::Status s = CommandPipeline::CheckProgram(e->options_.pipeline_command); !s.ok()) {
      log::Warn("external program missing", {{"program", e->options_.pipeline_command[0]},
                                             {"setting", kPipelineProgramKey},
                                             {"error", s.ToString()}});
    }
    e->pipeline_ = std::make_unique<CommandPipeline>(e->options_.pipeline_command,
                                                     e->options_.pipeline_timeout_seconds, &e->stop_flag_);
  }
  RETURN_IF_ERROR(e->UpgradeDataDir());
  // Runs again what a crash or kill interrupted (and, every tick, a run
  // whose lease expired).
  e->StartJobs();
  return e;
}

absl::Status ResourcingEngine::OpenRepositories() {
  namespace fs = std::filesystem;
  const fs::path work = fs::absolute(options_.work_dir);
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create ", work.string(), ": ", ec.message()));
  const Signature sig{"Switchboard", "switchboard@localhost"};
  std::string infra_url = options_.infra_url;
  if (infra_url.empty()) {
    const std::string path = (work / "remotes" / "infra.git").string();
    GitRepo::RemoveStaleLocks(path);  // the embedded remote is this server's alone
    RETURN_IF_ERROR(GitRepo::InitSeededBare(
        path, options_.main_branch, "",
        {{"README.md", "# Infrastructure\n\nWorkspaces live in terraform/projects/<ACRONYM>/, written by Switchboard.\n"},
         {"terraform/projects/.gitkeep", ""}},
        sig));
    infra_url = path;
  }
  std::string modules_url = options_.modules_url;
  if (modules_url.empty()) {
    if (options_.modules_seed_dir.empty() || !fs::is_directory(options_.modules_seed_dir)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "resourcing: no modules_url is configured and the example modules folder '", options_.modules_seed_dir,
          "' does not exist; set resourcing.modules_url or resourcing.modules_seed_dir"));
    }
    const std::string path = (work / "remotes" / "modules.git").string();
    GitRepo::RemoveStaleLocks(path);
    RETURN_IF_ERROR(GitRepo::InitSeededBare(path, options_.main_branch, options_.modules_seed_dir, {}, sig));
    modules_url = path;
  }
  // The mirrors are this server's alone (the data-dir lock is held).
  GitRepo::RemoveStaleLocks((work / "mirrors").string());
  ASSIGN_OR_RETURN(infra_, GitRepo::OpenMirror((work / "mirrors" / "infra.git").string(), infra_url,
                                               options_.git_token));
  ASSIGN_OR_RETURN(modules_, GitRepo::OpenMirror((work / "mirrors" / "modules.git").string(), modules_url,
                                                 options_.git_token));
  return absl::OkStatus();
}

ResourcingEngine::~ResourcingEngine() { Stop(); }

void ResourcingEngine::Stop() {
  std::set<core::Pool::TimerId> timers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_flag_ = true;
    stopping_ = true;
    ready_.clear();  // resumed from their checkpoints after the restart
    timers.swap(retry_timers_);
  }
  // A cancelled timer's task is dropped, and with it its Hold.
  for (core::Pool::TimerId id : timers) work_pool_->Cancel(id);
  // No more claims or renewals; the leases held stay with their jobs (until
  // they expire, or the store is next opened).
  if (jobs_) jobs_->Stop();
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return in_flight_ == 0; });
}

ResourcingEngine::Hold ResourcingEngine::Acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return nullptr;
  return HoldLocked();
}

ResourcingEngine::Hold ResourcingEngine::HoldLocked() {
  ++in_flight_;
  // The deleter runs wherever the last copy goes (a pool thread, the
  // store's completion thread); Stop waits for the count to reach zero.
  return Hold(static_cast<void*>(this), [](void* p) {
    auto* self = static_cast<ResourcingEngine*>(p);
    std::lock_guard<std::mutex> lock(self->mu_);
    if (--self->in_flight_ == 0) self->idle_cv_.notify_all();
  });
}

absl::Status ResourcingEngine::Refused(absl::string_view pool) const {
  if (stop_flag_) return absl::UnavailableError("the server is stopping; retry against a running server");
  return absl::ResourceExhaustedError(absl::StrCat("the '", pool, "' pool's queue is full (pools.", pool,
                                                   ".queue_limit); retry later"));
}

bool ResourcingEngine::OnWorkPool(std::function<void()> fn) { return work_pool_->Post(std::move(fn)); }

void ResourcingEngine::Enqueue(const std::string& run, const std::string& workspace, int64_t delay_ms) {
  if (delay_ms > 0) {
    Hold hold = Acquire();
    if (hold == nullptr) return;  // stopping: resumed after the restart
    // The timer's own id is known only once scheduled.
    auto id = std::make_shared<core::Pool::TimerId>(0);
    std::lock_guard<std::mutex> lock(mu_);
    *id = work_pool_->RunAfter(std::chrono::milliseconds(delay_ms), [this, hold, id, run, workspace] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        retry_timers_.erase(*id);
      }
      Enqueue(run, workspace);
    });
    if (*id == 0) {
      log::Error("cannot schedule a run's retry (the resourcing pool refused); it resumes after a restart",
                 {{"run", run}});
      return;
    }
    retry_timers_.insert(*id);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    ready_.push_back({run, workspace});
  }
  Dispatch();
}

void ResourcingEngine::Dispatch() {
  std::vector<std::pair<Queued, Hold>> start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!stopping_ && running_ < options_.workers) {
      auto it = std::find_if(ready_.begin(), ready_.end(),
                             [&](const Queued& q) { return busy_workspaces_.count(q.workspace) == 0; });
      if (it == ready_.end()) break;
      busy_workspaces_.insert(it->workspace);
      ++running_;
      start.emplace_back(std::move(*it), HoldLocked());
      ready_.erase(it);
    }
  }
  for (auto& [q, hold] : start) {
    ProcessRun(q.run, [this, hold = std::move(hold), ws = q.workspace] { Finished(ws); });
  }
}

void ResourcingEngine::Finished(const std::string& workspace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    busy_workspaces_.erase(workspace);
    --running_;
  }
  Dispatch();
}

void ResourcingEngine::SubmitRun(const Principal& caller, v1::SubmitRunRequest req, Done<v1::Run> done) {
  if (absl::Status s = ValidateAndNormalize(&req); !s.ok()) return done(s);
  Hold hold = Acquire();
  if (hold == nullptr) return done(Refused("resourcing"));
  const std::string fingerprint = core::Fingerprint(req);
  const std::string ws_name = WorkspaceName(req.workspace().acronym());
  auto shared_req = std::make_shared<const v1::SubmitRunRequest>(std::move(req));
  auto recorded = std::make_shared<v1::Run>();
  TransactAsync(
      store_, shared_req->request_id(),
      [this, req = shared_req, ws_name, recorded](Txn& txn) -> absl::Status {
        v1::Run run;
        run.set_name(RunName(txn.NextSequence()));
        run.set_request_id(req->request_id());
        run.set_workspace(ws_name);
        *run.mutable_workspace_spec() = req->workspace();
        *run.mutable_modules() = req->modules();
        run.set_requesting_user_email(req->requesting_user_email());
        run.set_state(v1::Run::QUEUED);
        *run.mutable_operation_context() = req->operation_context();
        SetNow(run.mutable_create_time());
        *run.mutable_update_time() = run.create_time();

        ASSIGN_OR_RETURN(std::optional<v1::Workspace> existing, txn.Get<v1::Workspace>(kWorkspaceKind, ws_name));
        v1::Workspace ws = existing.value_or(v1::Workspace());
        if (!existing.has_value()) {
          ws.set_name(ws_name);
          *ws.mutable_create_time() = run.create_time();
        }
        *ws.mutable_spec() = req->workspace();
        ws.set_last_run(run.name());
        ws.add_open_runs(run.name());
        for (const auto& m : req->modules()) {
          SetTemplateStatus(&ws, &run, m.name(), v1::REQUESTED, "");
          for (auto* list : {ws.mutable_templates(), run.mutable_templates()}) {
            for (auto& t : *list) {
              if (SameTemplate(t.template_(), m.name())) t.set_version(m.version());
            }
          }
        }
        Touch(&ws);
        txn.Put(kRunKind, run.name(), run);
        txn.Put(kWorkspaceKind, ws_name, ws);
        IndexRun(txn, run);
        // The run's job, claimed here: this process runs it now.
        txn.AddJob(NewRunJob(run.name(), ws_name));
        EmitRun(txn, run);
        EmitStatus(txn, ws, run.name());
        txn.set_response(run.name());
        *recorded = run;
        return absl::OkStatus();
      },
      [this, hold, done, recorded, ws_name, request_id = shared_req->request_id(),
       principal = caller.name](absl::StatusOr<core::CommitResult> result) {
        if (!result.ok()) return done(result.status());
        if (!result->replayed) {
          log::Info("run submitted",
                    {{"run", result->response}, {"workspace", ws_name}, {"principal", principal},
                     {"request_id", request_id}});
          KeepRenewed(result->response, *result, 0);  // its lease, kept alive until the run ends
          Enqueue(result->response, ws_name);
          return done(*recorded);  // the run as committed
        }
        // A repeat answers with the run as it is now: a read, so off the
        // store's completion thread.
        if (!OnWorkPool([this, hold, done, name = result->response] {
              done(core::MaybeReplayed(GetRun(name), true));
            })) {
          done(Refused("resourcing"));
        }
      },
      kScopeSubmit, fingerprint);
}

absl::StatusOr<v1::Run> ResourcingEngine::GetRun(absl::string_view name) const {
  if (!absl::StartsWith(name, "runs/") || name.size() == 5) {
    return absl::InvalidArgumentError(absl::StrCat("name: '", Echo(name), "' is not a run name such as runs/42"));
  }
  return LoadRecord<v1::Run>(*store_, kRunKind, std::string(name));
}

absl::StatusOr<v1::ListRunsResponse> ResourcingEngine::ListRuns(const v1::ListRunsRequest& request) const {
  ASSIGN_OR_RETURN(core::Page<v1::Run> page, core::ListPage(*store_, RunListing(request.workspace()),
                                                            request.page_size(), request.page_token()));
  v1::ListRunsResponse resp;
  for (auto& run : page.items) *resp.add_runs() = std::move(run);
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

absl::StatusOr<v1::Workspace> ResourcingEngine::GetWorkspace(absl::string_view name, bool reveal_sensitive) const {
  if (name.empty()) return absl::InvalidArgumentError("name: give a workspace such as workspaces/FISH");
  const std::string full = WorkspaceName(AcronymOf(name));
  ASSIGN_OR_RETURN(v1::Workspace ws, LoadRecord<v1::Workspace>(*store_, kWorkspaceKind, full));
  if (!reveal_sensitive) RedactOutputs(ws.mutable_outputs());
  return ws;
}

absl::StatusOr<v1::ListWorkspacesResponse> ResourcingEngine::ListWorkspaces(const v1::ListWorkspacesRequest& request,
                                                                           bool reveal_sensitive) const {
  core::Listing<v1::Workspace> listing;
  listing.collection = "workspaces";
  listing.kind = kWorkspaceKind;
  if (request.status() != v1::RESOURCE_STATUS_UNSPECIFIED) {
    listing.keep = [want = request.status()](const v1::Workspace& ws) { return ws.status() == want; };
  }
  ASSIGN_OR_RETURN(core::Page<v1::Workspace> page,
                   core::ListPage(*store_, listing, request.page_size(), request.page_token()));
  v1::ListWorkspacesResponse resp;
  for (auto& ws : page.items) {
    if (!reveal_sensitive) RedactOutputs(ws.mutable_outputs());
    *resp.add_workspaces() = std::move(ws);
  }
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

absl::StatusOr<v1::PullRequest> ResourcingEngine::GetPullRequest(absl::string_view name) const {
  if (!absl::StartsWith(name, "pullRequests/") || name.size() == 13) {
    return absl::InvalidArgumentError(absl::StrCat("name: '", Echo(name), "' is not a pull request such as pullRequests/7"));
  }
  return LoadRecord<v1::PullRequest>(*store_, kPullRequestKind, std::string(name));
}

absl::StatusOr<v1::ListPullRequestsResponse> ResourcingEngine::ListPullRequests(
    const v1::ListPullRequestsRequest& request) const {
  core::Listing<v1::PullRequest> listing = PullRequestListing(request.workspace());
  if (request.state() != v1::PullRequest::STATE_UNSPECIFIED) {
    listing.keep = [want = request.state()](const v1::PullRequest& pr) { return pr.state() == want; };
  }
  ASSIGN_OR_RETURN(core::Page<v1::PullRequest> page,
                   core::ListPage(*store_, listing, request.page_size(), request.page_token()));
  v1::ListPullRequestsResponse resp;
  for (auto& pr : page.items) *resp.add_pull_requests() = std::move(pr);
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

}  // namespace switchboard::resourcing
