#include "server/resourcing/records.h"

#include "server/resourcing/names.h"

namespace switchboard::resourcing {

void TransactAsync(core::Store* store, const std::string& request_id, std::function<absl::Status(Txn&)> body,
                   CommitDone done, const std::string& scope, const std::string& fingerprint) {
  auto response = std::make_shared<std::string>();
  core::Mutation m;
  m.scope = scope;
  m.request_id = scope.empty() ? "" : request_id;
  m.fingerprint = fingerprint;
  m.prepare = [body = std::move(body), request_id, response](core::TxnReader& reader,
                                                             core::Mutation& self) -> absl::Status {
    Txn txn(reader, self, request_id);
    absl::Status s = body(txn);
    if (!s.ok()) return s;
    txn.Flush();
    *response = txn.response();
    return absl::OkStatus();
  };
  m.make_response = [response](int64_t) { return *response; };
  store->CommitAsync(std::move(m), std::move(done));
}

void RedactOutputs(google::protobuf::Map<std::string, v1::OutputValue>* outputs) {
  for (auto& [k, v] : *outputs) {
    if (v.sensitive()) {
      v.clear_value();
      v.set_redacted(true);
    }
  }
}

void EmitStatus(Txn& txn, const v1::Workspace& ws, const std::string& run) {
  v1::ResourcingEvent e;
  v1::StatusReport* r = e.mutable_status();
  r->set_project_cd(ws.spec().acronym());
  *r->mutable_templates() = ws.templates();
  *r->mutable_outputs() = ws.outputs();
  RedactOutputs(r->mutable_outputs());
  txn.Emit("status", ws.name(), run, std::move(e));
}

void EmitRun(Txn& txn, const v1::Run& run) {
  v1::ResourcingEvent e;
  *e.mutable_run() = run;
  *e.mutable_operation_context() = run.operation_context();
  txn.Emit("run", run.name(), run.workspace(), std::move(e));
}

void EmitPullRequest(Txn& txn, const v1::PullRequest& pr) {
  v1::ResourcingEvent e;
  *e.mutable_pull_request() = pr;
  txn.Emit("pull_request", pr.name(), pr.workspace(), std::move(e));
}

void EmitPipeline(Txn& txn, const std::string& workspace, const v1::PipelineEvent& pe) {
  v1::ResourcingEvent e;
  *e.mutable_pipeline() = pe;
  txn.Emit("pipeline", pe.run(), workspace, std::move(e));
}

namespace {
v1::TemplateStatus* FindOrAdd(google::protobuf::RepeatedPtrField<v1::TemplateStatus>* list, const std::string& tmpl) {
  for (auto& t : *list) {
    if (SameTemplate(t.template_(), tmpl)) return &t;
  }
  auto* t = list->Add();
  t->set_template_(tmpl);
  return t;
}

void Apply(v1::TemplateStatus* t, v1::ResourceStatus status, const std::string& message, v1::ApprovalPolicy policy) {
  t->set_status(status);
  t->set_raw_status(StatusText(status));
  t->set_message(message);
  if (policy != v1::APPROVAL_POLICY_UNSPECIFIED) t->set_approval_policy(policy);
  SetNow(t->mutable_update_time());
}
}  // namespace

void SetTemplateStatus(v1::Workspace* ws, v1::Run* run, const std::string& tmpl, v1::ResourceStatus status,
                       const std::string& message, v1::ApprovalPolicy policy) {
  if (ws != nullptr) Apply(FindOrAdd(ws->mutable_templates(), tmpl), status, message, policy);
  if (run != nullptr) Apply(FindOrAdd(run->mutable_templates(), tmpl), status, message, policy);
}

void Touch(v1::Workspace* ws) {
  ws->set_status(Aggregate(ws->templates()));
  SetNow(ws->mutable_update_time());
}

void Touch(v1::Run* run) { SetNow(run->mutable_update_time()); }

}  // namespace switchboard::resourcing
