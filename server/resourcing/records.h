#pragma once
// Small helpers over the store for resourcing records, and the event
// builders every step uses.

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/store.h"
#include "server/resourcing/txn.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

template <class T>
absl::StatusOr<T> LoadRecord(const core::Store& store, const std::string& kind, const std::string& name) {
  auto r = const_cast<core::Store&>(store).GetResource(kind, name);
  if (!r.ok()) return r.status();
  if (!r->has_value()) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
  T out;
  if (!out.ParseFromString(**r)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
  return out;
}

using CommitDone = std::function<void(absl::StatusOr<core::CommitResult>)>;

// Runs `body` inside one store transaction (read-modify-write safe) through
// Store::CommitAsync: returns at once, and `done` gets the result once it is
// durable (on the store's completion thread; at once when the store refuses).
// `request_id` goes on the events; the idempotency record is kept only when
// `scope` is non-empty. The result's response is what the body passed to
// Txn::set_response (or, on a repeat, what the first call stored).
// The body runs on the store's writer thread, at most once: it reads and
// writes only through the Txn, and what it captures must stay valid until
// `done` runs (capture by value or shared_ptr; results go out through shared
// state that `done` reads).
void TransactAsync(core::Store* store, const std::string& request_id, std::function<absl::Status(Txn&)> body,
                   CommitDone done, const std::string& scope = "", const std::string& fingerprint = "");

// Replaces sensitive output values with redacted entries.
void RedactOutputs(google::protobuf::Map<std::string, v1::OutputValue>* outputs);

// The docs/wire-formats.md section 2 status message of a workspace (sensitive values
// redacted), emitted as a "status" event.
void EmitStatus(Txn& txn, const v1::Workspace& ws, const std::string& run);
void EmitRun(Txn& txn, const v1::Run& run);
void EmitPullRequest(Txn& txn, const v1::PullRequest& pr);
void EmitPipeline(Txn& txn, const std::string& workspace, const v1::PipelineEvent& pe);

// Sets one template's status on the workspace and (if given) the run.
void SetTemplateStatus(v1::Workspace* ws, v1::Run* run, const std::string& tmpl, v1::ResourceStatus status,
                       const std::string& message, v1::ApprovalPolicy policy = v1::APPROVAL_POLICY_UNSPECIFIED);
// Recomputes ws.status and update_time.
void Touch(v1::Workspace* ws);
void Touch(v1::Run* run);

}  // namespace switchboard::resourcing
