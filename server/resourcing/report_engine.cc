// ReportPipelineOutputs: applies a `terraform output -json` map to the
// workspace in one transaction and ends the runs it completes.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "server/core/fingerprint.h"
#include "server/resourcing/engine.h"
#include "server/resourcing/names.h"
#include "server/resourcing/records.h"
#include "server/resourcing/report.h"
#include "server/resourcing/run_jobs.h"

namespace switchboard::resourcing {

namespace {
constexpr char kScopeReport[] = "resourcing.ReportPipelineOutputs";
}  // namespace

void ResourcingEngine::ReportPipelineOutputs(v1::ReportPipelineOutputsRequest request, bool reveal_sensitive,
                                             Done<v1::ReportPipelineOutputsResponse> done) {
  if (request.request_id().empty()) {
    return done(absl::InvalidArgumentError("request_id: required (the queue message id, or any unique id)"));
  }
  Hold hold = Acquire();
  if (hold == nullptr) return done(Refused("resourcing"));
  ApplyReportTxn(request, "", kScopeReport, std::nullopt,
                 [hold, reveal_sensitive, done](core::Reply<v1::ReportPipelineOutputsResponse> resp) {
                   if (resp.ok() && !reveal_sensitive) RedactOutputs(resp->mutable_workspace()->mutable_outputs());
                   done(std::move(resp));
                 });
}

void ResourcingEngine::ApplyReportTxn(const v1::ReportPipelineOutputsRequest& request,
                                      const std::string& run_for_events, const std::string& scope,
                                      std::optional<core::JobLease> pass_lease,
                                      Done<v1::ReportPipelineOutputsResponse> done) {
  absl::StatusOr<std::string> acronym_or = ReportProjectCd(request.outputs());
  if (!acronym_or.ok()) return done(acronym_or.status());
  const std::string acronym = *std::move(acronym_or);
  const std::string ws_name = WorkspaceName(acronym);
  auto resp = std::make_shared<v1::ReportPipelineOutputsResponse>();
  auto req = std::make_shared<const v1::ReportPipelineOutputsRequest>(request);
  TransactEnding(
      request.request_id(),
      [req, resp, acronym, ws_name, run_for_events](Txn& txn, EndingJobs& jobs) -> absl::Status {
    resp->Clear();  // this body may run twice (TransactEnding)
    ASSIGN_OR_RETURN(std::optional<v1::Workspace> found, txn.Get<v1::Workspace>(kWorkspaceKind, ws_name));
    if (!found.has_value()) {
      return absl::NotFoundError(absl::StrCat("outputs.project_cd: workspace ", acronym,
                                              " is unknown; it must be requested (SubmitRun) first"));
    }
    v1::Workspace ws = std::move(*found);
    bool outputs_changed = false;
    std::vector<v1::TemplateStatus> changed = ApplyReport(req->outputs(), &ws, &outputs_changed);
    for (auto& c : changed) *resp->add_changed() = c;
    if (changed.empty() && !outputs_changed) {
      resp->set_allocated_workspace(new v1::Workspace(ws));
      txn.set_response(resp->SerializeAsString());
      return absl::OkStatus();  // a repeat: nothing to write
    }
    // Runs whose templates have all ended are over.
    std::vector<std::string> still_open;
    std::vector<v1::Run> ended;
    for (const std::string& run_name : ws.open_runs()) {
      ASSIGN_OR_RETURN(std::optional<v1::Run> run, txn.Get<v1::Run>(kRunKind, run_name));
      if (!run.has_value()) continue;
      bool all_done = true, all_ok = true;
      std::vector<std::string> failed;
      for (auto& t : *run->mutable_templates()) {
        for (const auto& w : ws.templates()) {
          if (w.template_() != t.template_()) continue;
          // Only statuses that moved on since the run set them count.
          if (run->state() == v1::Run::PIPELINE_RUNNING) {
            t.set_status(w.status());
            t.set_raw_status(w.raw_status());
            t.set_message(w.message());
            *t.mutable_update_time() = w.update_time();
          }
        }
        all_done = all_done && IsTerminal(t.status());
        if (t.status() == v1::FAILED) {
          all_ok = false;
          failed.push_back(t.template_());
        }
      }
      if (run->state() == v1::Run::PIPELINE_RUNNING && all_done) {
        run->set_state(all_ok ? v1::Run::SUCCEEDED : v1::Run::FAILED);
        if (!all_ok) run->set_error(absl::StrCat("the pipeline reported failed: ", absl::StrJoin(failed, ", ")));
        Touch(&*run);
        txn.Put(kRunKind, run_name, *run);
        ended.push_back(*run);
      } else {
        still_open.push_back(run_name);
        if (run->state() == v1::Run::PIPELINE_RUNNING) {
          Touch(&*run);
          txn.Put(kRunKind, run_name, *run);
        }
      }
    }
    ws.clear_open_runs();
    for (auto& n : still_open) ws.add_open_runs(n);
    Touch(&ws);
    txn.Put(kWorkspaceKind, ws_name, ws);
    EmitStatus(txn, ws, run_for_events.empty() ? ws.last_run() : run_for_events);
    // After the status, so that a watcher that stops at the run's end has
    // seen the final statuses.
    for (const auto& run : ended) {
      EmitRun(txn, run);
      jobs.Ended(txn, run.name());
    }
    resp->set_allocated_workspace(new v1::Workspace(ws));
    txn.set_response(resp->SerializeAsString());
    return absl::OkStatus();
  },
      [resp, done](absl::StatusOr<core::CommitResult> r) {
        if (!r.ok()) return done(r.status());
        if (r->replayed) {
          // The first answer, as it was then (the body did not run).
          v1::ReportPipelineOutputsResponse first;
          if (!first.ParseFromString(r->response)) {
            return done(absl::DataLossError("stored ReportPipelineOutputs answer is corrupt"));
          }
          return done(core::Replayed(std::move(first)));
        }
        done(std::move(*resp));
      },
      scope, scope.empty() ? "" : core::Fingerprint(request), run_for_events, pass_lease);
}

}  // namespace switchboard::resourcing
