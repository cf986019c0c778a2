#include "gateway/adapters/storage_queue/handlers.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "wire/run_request.h"
#include "wire/terraform_output.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace switchboard::gateway::storage_queue {

Verdict VerdictFor(const client::Connection& conn, const grpc::Status& s, const char* rpc) {
  Verdict v;
  if (s.ok()) return v;
  v.reason = absl::StrCat(rpc, ": ", CodeName(static_cast<absl::StatusCode>(s.error_code())), ": ",
                          s.error_message());
  if (conn.IsUnreachable(s)) {
    v.kind = Verdict::kUnreachable;
    return v;
  }
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::OUT_OF_RANGE:
      v.kind = Verdict::kPoison;
      v.reason = absl::StrCat("rejected by switchboardd: ", v.reason);
      break;
    default:
      v.kind = Verdict::kRetry;
  }
  return v;
}

QueueConsumer::Handler RunRequestHandler(const client::Connection* conn) {
  return [conn](const QueueMessage& m) -> Verdict {
    auto req = wire::RunRequestFromJson(m.text, m.id);
    if (!req.ok()) return Verdict{Verdict::kPoison, absl::StrCat("cannot decode: ", req.status().message())};
    auto ctx = conn->NewUnaryContext();
    v1::Run run;
    grpc::Status s = v1::ResourcingService::NewStub(conn->channel())->SubmitRun(ctx.get(), *req, &run);
    Verdict v = VerdictFor(*conn, s, "SubmitRun");
    if (v.kind == Verdict::kAccepted) {
      log::Info("run request accepted", {{"message_id", m.id}, {"run", run.name()}, {"workspace", run.workspace()}});
    }
    return v;
  };
}

QueueConsumer::Handler PipelineOutputHandler(const client::Connection* conn) {
  return [conn](const QueueMessage& m) -> Verdict {
    auto req = wire::TerraformOutputFromJson(m.text, m.id);
    if (!req.ok()) return Verdict{Verdict::kPoison, absl::StrCat("cannot decode: ", req.status().message())};
    auto ctx = conn->NewUnaryContext();
    v1::ReportPipelineOutputsResponse resp;
    grpc::Status s = v1::ResourcingService::NewStub(conn->channel())->ReportPipelineOutputs(ctx.get(), *req, &resp);
    return VerdictFor(*conn, s, "ReportPipelineOutputs");
  };
}

bool ServerReady(const client::Connection& conn, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::system_clock::now() + timeout;
  while (true) {
    grpc_connectivity_state st = conn.channel()->GetState(/*try_to_connect=*/true);
    if (st == GRPC_CHANNEL_READY) return true;
    if (!conn.channel()->WaitForStateChange(st, deadline)) return false;
  }
}

}  // namespace switchboard::gateway::storage_queue
