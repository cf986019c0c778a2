// sbctl media ...: one subcommand per MediaService operation, operations,
// and `media exec`, which runs Gridwich request events (docs/wire-formats.md section 4)
// through the gateway's Event Grid codec and prints the response events.
#include "clients/sbctl/cmd_media.h"

#include <optional>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/sbctl/cmd_run.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/replayed.h"
#include "common/status.h"
#include "common/uuid.h"
#include "wire/eventgrid.h"
#include "wire/gridwich.h"
#include "wire/json_util.h"
#include "wire/media_request.h"

namespace switchboard::sbctl {

using nlohmann::json;
using Stub = v1::MediaService::Stub;

std::string MediaRequestId(const Invocation& inv) {
  std::string id = inv.cli().GetString("request_id");
  return id.empty() ? absl::StrCat("sbctl-", NewUuid()) : id;
}

absl::StatusOr<google::protobuf::Struct> MediaContext(const Invocation& inv) {
  std::string text = inv.cli().GetString("context");
  if (text.empty()) return google::protobuf::Struct();
  auto j = wire::ParseJson(text);
  if (!j.ok()) return absl::InvalidArgumentError(absl::StrCat("--context: ", j.status().message()));
  if (!j->is_object()) return absl::InvalidArgumentError("--context must be a JSON object, e.g. '{\"jobId\":\"1\"}'");
  return wire::JsonToStruct(*j, "--context");
}

void AddMediaRequestFlags(Cli& cli) {
  cli.AddString("request_id", "", "Idempotency key; a new one per run when empty.");
  cli.AddString("context", "", "Operation context, a JSON object echoed in every event of the operation.");
}

std::string OperationName(const std::string& arg) {
  return absl::StartsWith(arg, "operations/") ? arg : absl::StrCat("operations/", arg);
}

absl::Duration WaitTimeout(const Invocation& inv) { return absl::Seconds(inv.cli().GetInt("wait_timeout")); }

void PrintOperation(Invocation& inv, const v1::Operation& op, std::optional<bool> replayed) {
  if (inv.json()) {
    inv.out() << (replayed.has_value() ? ReplayedJson(op, *replayed) : MessageJson(op)) << "\n";
    return;
  }
  auto& o = inv.out();
  if (replayed.value_or(false)) o << "replayed: the operation of an earlier request with this request_id\n";
  o << "name:      " << op.name() << "\n"
    << "type:      " << v1::OperationType_Name(op.type()) << "\n"
    << "state:     " << v1::Operation::State_Name(op.state()) << "\n"
    << "target:    " << op.target_uri() << "\n";
  if (op.has_failure()) {
    o << "failure:   " << op.failure().log_event_id() << " " << op.failure().event_handler_class_name() << ": "
      << op.failure().log_event_message() << "\n";
  }
  switch (op.result_case()) {
    case v1::Operation::kSasUrl: o << "sas url:   " << op.sas_url() << "\n"; break;
    case v1::Operation::kBlob: {
      const auto& b = op.blob();
      o << "blob:      " << b.blob_uri() << " (" << b.size() << " bytes, " << b.content_type() << ", "
        << v1::AccessTier_Name(b.access_tier()) << (b.rehydrating() ? ", rehydrating" : "") << ")\n";
      for (const auto& [k, v] : b.metadata()) o << "  " << k << " = " << v << "\n";
      break;
    }
    case v1::Operation::kEncode: {
      const auto& e = op.encode();
      o << "encode:    " << v1::EncodeState_Name(e.state()) << " " << e.percent_complete() << "% "
        << e.current_status() << "\n";
      for (const auto& u : e.output_uris()) o << "output:    " << u << "\n";
      break;
    }
    case v1::Operation::kAnalysisResult: {
      json r = wire::StructToJson(op.analysis_result());
      o << "analysis:\n" << r.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
      break;
    }
    default: break;
  }
  if (!op.blob_metadata().empty()) {
    o << "metadata:\n";
    for (const auto& [k, v] : op.blob_metadata()) o << "  " << k << " = " << v << "\n";
  }
}

absl::Status FollowOperation(client::Connection* conn, const std::string& name, absl::Duration timeout,
                             const std::function<void(const v1::MediaEvent&)>& on_event) {
  auto stub = v1::MediaService::NewStub(conn->channel());
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
  v1::WatchOperationRequest req;
  req.set_name(name);
  grpc::Status s;
  for (;;) {
    auto ctx = conn->NewStreamContext();
    ctx->set_deadline(deadline);
    auto reader = stub->WatchOperation(ctx.get(), req);
    v1::MediaEvent e;
    while (reader->Read(&e)) {
      req.set_after_sequence(std::max(req.after_sequence(), e.sequence()));
      on_event(e);
      if (wire::IsFinalEvent(e)) {
        ctx->TryCancel();
        reader->Finish();
        return absl::OkStatus();
      }
    }
    s = reader->Finish();
    // A watch that fell behind ends with a resume point: go on from there,
    // without a gap or a repeat (there is no --after to tell the user).
    std::optional<int64_t> resume = client::ResumeAfter(*ctx);
    if (s.error_code() != grpc::StatusCode::ABORTED || !resume.has_value()) break;
    req.set_after_sequence(std::max(req.after_sequence(), *resume));
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::DeadlineExceededError(
        absl::StrCat(name, " did not finish within ", absl::FormatDuration(timeout), "; raise --wait_timeout"));
  }
  return FromGrpcStatus(s);
}

int FinishMediaOperation(Invocation& inv, client::Connection* conn, const v1::Operation& op, bool wait,
                         bool replayed) {
  v1::Operation last = op;
  if (wait) {
    absl::Status s = FollowOperation(conn, op.name(), WaitTimeout(inv), [](const v1::MediaEvent&) {});
    if (!s.ok()) return inv.LocalError(s);
    auto stub = v1::MediaService::NewStub(conn->channel());
    v1::GetOperationRequest req;
    req.set_name(op.name());
    auto ctx = conn->NewUnaryContext();
    grpc::Status g = stub->GetOperation(ctx.get(), req, &last);
    if (!g.ok()) return inv.RpcError(g);
  }
  PrintOperation(inv, last, replayed);
  bool bad = last.state() == v1::Operation::FAILED || last.state() == v1::Operation::CANCELED;
  return bad ? kExitError : kExitOk;
}

namespace {

// One overload per request type, so `media exec` can visit the decoded request.
#define SBCTL_MEDIA_SEND(Req, Method)                                                           \
  grpc::Status Send(Stub& s, grpc::ClientContext* c, const v1::Req& r, v1::Operation* out) { \
    return s.Method(c, r, out);                                                                \
  }
SBCTL_MEDIA_SEND(SetBlobMetadataRequest, SetBlobMetadata)
SBCTL_MEDIA_SEND(AnalyzeBlobRequest, AnalyzeBlob)
SBCTL_MEDIA_SEND(CopyBlobRequest, CopyBlob)
SBCTL_MEDIA_SEND(DeleteBlobRequest, DeleteBlob)
SBCTL_MEDIA_SEND(CreateSasUrlRequest, CreateSasUrl)
SBCTL_MEDIA_SEND(ChangeBlobTierRequest, ChangeBlobTier)
SBCTL_MEDIA_SEND(CreateContainerRequest, CreateContainer)
SBCTL_MEDIA_SEND(DeleteContainerRequest, DeleteContainer)
SBCTL_MEDIA_SEND(ChangeContainerAccessRequest, ChangeContainerAccess)
SBCTL_MEDIA_SEND(RollStorageKeyRequest, RollStorageKey)
SBCTL_MEDIA_SEND(EncodeRequest, Encode)
#undef SBCTL_MEDIA_SEND

// See SubmitMedia in cmd_media.h.
template <class Req>
std::optional<int> Submit(Invocation& inv, Req req, client::Connection** conn_out, v1::Operation* op,
                          bool* replayed = nullptr) {
  req.set_request_id(MediaRequestId(inv));
  // A key roll carries no operation context (docs/wire-formats.md).
  if constexpr (!std::is_same_v<Req, v1::RollStorageKeyRequest>) {
    auto ctx_struct = MediaContext(inv);
    if (!ctx_struct.ok()) return inv.LocalError(ctx_struct.status());
    *req.mutable_operation_context() = *ctx_struct;
  }
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::MediaService::NewStub(conn->channel());
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = Send(*stub, ctx.get(), req, op);
  if (!s.ok()) return inv.RpcError(s);
  if (replayed != nullptr) *replayed = client::Replayed(*ctx);
  *conn_out = conn;
  return std::nullopt;
}

// Sends one request and finishes it (see FinishMediaOperation).
template <class Req>
int SendOne(Invocation& inv, Req req, bool wait) {
  client::Connection* conn = nullptr;
  v1::Operation op;
  bool replayed = false;
  if (auto exit = Submit(inv, std::move(req), &conn, &op, &replayed)) return *exit;
  return FinishMediaOperation(inv, conn, op, wait, replayed);
}

}  // namespace

std::optional<int> SubmitMedia(Invocation& inv, v1::EncodeRequest req, client::Connection** conn, v1::Operation* op,
                               bool* replayed) {
  return Submit(inv, std::move(req), conn, op, replayed);
}

namespace {

absl::StatusOr<v1::AccessTier> ParseTier(const std::string& w) {
  if (w == "Hot") return v1::HOT;
  if (w == "Cool") return v1::COOL;
  if (w == "Cold") return v1::COLD;
  if (w == "Archive") return v1::ARCHIVE;
  return absl::InvalidArgumentError(absl::StrCat("TIER '", w, "' is not Hot, Cool, Cold or Archive"));
}

int RunMetadata(Invocation& inv) {
  v1::SetBlobMetadataRequest req;
  req.set_blob_uri(inv.args()[0]);
  for (size_t i = 1; i < inv.args().size(); ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(inv.args()[i], absl::MaxSplits('=', 1));
    if (kv.first.empty() || inv.args()[i].find('=') == std::string::npos) {
      return inv.UsageError(absl::StrCat("'", inv.args()[i], "' is not NAME=VALUE"));
    }
    (*req.mutable_blob_metadata())[kv.first] = kv.second;
  }
  return SendOne(inv, req, false);
}

int RunAnalyze(Invocation& inv) {
  v1::AnalyzeBlobRequest req;
  req.set_blob_uri(inv.args()[0]);
  (*req.mutable_mediainfo_options())["Complete"] = inv.cli().GetBool("complete") ? "1" : "0";
  (*req.mutable_mediainfo_options())["Output"] = "JSON";
  return SendOne(inv, req, false);
}

int RunCopy(Invocation& inv) {
  v1::CopyBlobRequest req;
  req.set_source_uri(inv.args()[0]);
  req.set_destination_uri(inv.args()[1]);
  return SendOne(inv, req, !inv.cli().GetBool("no_wait"));
}

int RunDelete(Invocation& inv) {
  v1::DeleteBlobRequest req;
  req.set_blob_uri(inv.args()[0]);
  return SendOne(inv, req, !inv.cli().GetBool("no_wait"));
}

int RunSas(Invocation& inv) {
  v1::CreateSasUrlRequest req;
  req.set_blob_uri(inv.args()[0]);
  req.set_sec_to_live(inv.cli().GetInt("ttl"));
  req.set_permissions(inv.cli().GetString("permissions"));
  if (inv.json()) return SendOne(inv, req, false);
  // Text mode prints only the URL, for $(sbctl media sas ...).
  client::Connection* conn = nullptr;
  v1::Operation op;
  if (auto exit = Submit(inv, std::move(req), &conn, &op)) return *exit;
  if (op.state() != v1::Operation::SUCCEEDED) {
    PrintOperation(inv, op);
    return kExitError;
  }
  inv.out() << op.sas_url() << "\n";
  return kExitOk;
}

int RunTier(Invocation& inv) {
  v1::ChangeBlobTierRequest req;
  req.set_blob_uri(inv.args()[0]);
  auto tier = ParseTier(inv.args()[1]);
  if (!tier.ok()) return inv.UsageError(tier.status().message());
  req.set_access_tier(*tier);
  std::string p = inv.cli().GetString("priority");
  if (p == "Standard") {
    req.set_rehydrate_priority(v1::STANDARD);
  } else if (p == "High") {
    req.set_rehydrate_priority(v1::HIGH);
  } else if (!p.empty()) {
    return inv.UsageError(absl::StrCat("--priority '", p, "' is not Standard or High"));
  }
  return SendOne(inv, req, false);
}

int RunContainerCreate(Invocation& inv) {
  v1::CreateContainerRequest req;
  req.set_storage_account_name(inv.args()[0]);
  req.set_container_name(inv.args()[1]);
  return SendOne(inv, req, false);
}

int RunContainerDelete(Invocation& inv) {
  v1::DeleteContainerRequest req;
  req.set_storage_account_name(inv.args()[0]);
  req.set_container_name(inv.args()[1]);
  return SendOne(inv, req, false);
}

int RunContainerAccess(Invocation& inv) {
  v1::ChangeContainerAccessRequest req;
  req.set_storage_account_name(inv.args()[0]);
  req.set_container_name(inv.args()[1]);
  const std::string& a = inv.args()[2];
  if (a == "Blob") {
    req.set_access(v1::BLOB);
  } else if (a == "BlobContainer") {
    req.set_access(v1::BLOB_CONTAINER);
  } else if (a == "None") {
    req.set_access(v1::PRIVATE);
  } else {
    return inv.UsageError(absl::StrCat("ACCESS '", a, "' is not Blob, BlobContainer or None"));
  }
  return SendOne(inv, req, false);
}

int RunRollKey(Invocation& inv) {
  v1::RollStorageKeyRequest req;
  req.set_account(inv.args()[0]);
  req.set_key_name(inv.args()[1]);
  return SendOne(inv, req, false);
}

int RunCancel(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::MediaService::NewStub(conn->channel());
  v1::CancelEncodeRequest req;
  req.set_request_id(MediaRequestId(inv));
  req.set_name(OperationName(inv.args()[0]));
  v1::Operation op;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->CancelEncode(ctx.get(), req, &op);
  if (!s.ok()) return inv.RpcError(s);
  // Replayed: the encode had been canceled already.
  PrintOperation(inv, op, client::Replayed(*ctx));
  return kExitOk;
}

int RunGet(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::MediaService::NewStub(conn->channel());
  v1::GetOperationRequest req;
  req.set_name(OperationName(inv.args()[0]));
  v1::Operation op;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->GetOperation(ctx.get(), req, &op);
  if (!s.ok()) return inv.RpcError(s);
  PrintOperation(inv, op);
  return kExitOk;
}

int RunOperations(Invocation& inv) {
  v1::ListOperationsRequest req;
  std::string type = inv.cli().GetString("type");
  if (!type.empty()) {
    v1::OperationType t;
    if (!v1::OperationType_Parse(type, &t)) {
      return inv.UsageError(absl::StrCat("--type '", type, "' is not an operation type such as ENCODE_FLIP"));
    }
    req.set_type(t);
  }
  std::string state = inv.cli().GetString("state");
  if (!state.empty()) {
    v1::Operation::State st;
    if (!v1::Operation::State_Parse(state, &st)) {
      return inv.UsageError(absl::StrCat("--state '", state, "' is not a state such as SUCCEEDED or FAILED"));
    }
    req.set_state(st);
  }
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::MediaService::NewStub(conn->channel());
  std::vector<std::vector<std::string>> rows;
  req.set_page_size(200);
  do {
    v1::ListOperationsResponse resp;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub->ListOperations(ctx.get(), req, &resp);
    if (!s.ok()) return inv.RpcError(s);
    for (const auto& op : resp.operations()) {
      if (inv.json()) {
        inv.out() << MessageJson(op) << "\n";
      } else {
        rows.push_back({op.name(), v1::OperationType_Name(op.type()), v1::Operation::State_Name(op.state()),
                        TimeText(op.update_time()), Shorten(op.target_uri(), 80)});
      }
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  if (!inv.json()) PrintTable(inv.out(), {"NAME", "TYPE", "STATE", "UPDATED", "TARGET"}, rows);
  return kExitOk;
}

// ---- media exec ----

void PrintEvent(Invocation& inv, const json& event) {
  inv.out() << event.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  inv.out().flush();
}

google::protobuf::Struct ContextOf(const wire::EventGridEvent& e) {
  const json* c = wire::FindMember(e.data, "operationContext");
  if (!c || !c->is_object() || wire::IsRollKey(e.event_type)) return {};
  auto s = wire::JsonToStruct(*c, "operationContext");
  return s.ok() ? *s : google::protobuf::Struct();
}

// Runs one request event; returns false if a failure event was printed,
// or the exit code when the server could not be used at all.
int ExecOne(Invocation& inv, client::Connection* conn, const wire::EventGridEvent& e, bool* failed) {
  auto decoded = wire::DecodeMediaRequest(e);
  if (!decoded.ok()) {
    bool unknown = decoded.status().code() == absl::StatusCode::kNotFound;
    PrintEvent(inv, wire::RequestFailureEvent(
                        e, ContextOf(e), unknown ? wire::kLogRequestUnknownType : wire::kLogRequestInvalid,
                        decoded.status().message(), wire::HandlerFor(e.event_type)));
    *failed = true;
    return kExitOk;
  }
  auto stub = v1::MediaService::NewStub(conn->channel());
  if (decoded->has_report_storage_event()) {
    v1::StorageEvent recorded;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub->ReportStorageEvent(ctx.get(), decoded->report_storage_event(), &recorded);
    if (!s.ok()) {
      if (conn->IsUnreachable(s)) return inv.RpcError(s);
      PrintEvent(inv, wire::RequestFailureEvent(e, wire::OperationContextOf(*decoded), wire::kLogRequestInvalid,
                                                  s.error_message(), "StorageEventHandler"));
      *failed = true;
      return kExitOk;
    }
    v1::MediaEvent me;
    *me.mutable_storage() = recorded;
    *me.mutable_operation_context() = wire::OperationContextOf(*decoded);
    if (auto out = wire::ResponseFor(me, nullptr)) PrintEvent(inv, *out);
    return kExitOk;
  }
  v1::Operation op;
  grpc::Status s;
  {
    auto ctx = conn->NewUnaryContext();
    s = wire::VisitMediaRequest(*decoded, [&](const auto& req) -> grpc::Status {
      if constexpr (std::is_same_v<std::decay_t<decltype(req)>, v1::ReportStorageEventRequest>) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "unreachable");
      } else {
        return Send(*stub, ctx.get(), req, &op);
      }
    });
    // stdout is the Event Grid event stream: the note goes to stderr.
    if (s.ok() && client::Replayed(*ctx)) {
      inv.err() << "replayed: " << op.name() << " is the operation of an earlier request with this request_id; "
                << "its events follow as they were\n";
    }
  }
  if (!s.ok()) {
    if (conn->IsUnreachable(s)) return inv.RpcError(s);
    // Rejected before an operation existed (validation): the gateway
    // answers it the same way.
    PrintEvent(inv, wire::RequestFailureEvent(e, wire::OperationContextOf(*decoded), wire::kLogRequestInvalid,
                                                absl::StrCat(CodeName(FromGrpcStatus(s).code()), ": ",
                                                             s.error_message()),
                                                wire::HandlerFor(e.event_type)));
    *failed = true;
    return kExitOk;
  }
  absl::Status f = FollowOperation(conn, op.name(), WaitTimeout(inv), [&](const v1::MediaEvent& me) {
    if (me.has_failure()) *failed = true;
    // Without the request, as the stateless gateway does: every field comes
    // from the server's event.
    if (auto out = wire::ResponseFor(me, nullptr)) PrintEvent(inv, *out);
  });
  if (!f.ok()) return inv.LocalError(f);
  return kExitOk;
}

int RunExec(Invocation& inv) {
  std::string path = inv.cli().GetString("file");
  if (path.empty()) return inv.UsageError("--file is required (an Event Grid event array, or - for stdin)");
  auto text = ReadInputFile(path);
  if (!text.ok()) return inv.LocalError(text.status());
  auto batch = wire::ParseEventGridBatch(*text);
  if (!batch.ok()) return inv.LocalError(batch.status());
  if (auto v = wire::ValidationResponse(*batch)) {
    PrintEvent(inv, *v);
    return kExitOk;
  }
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  bool failed = false;
  for (const auto& e : *batch) {
    int rc = ExecOne(inv, conn, e, &failed);
    if (rc != kExitOk) return rc;
  }
  return failed ? kExitError : kExitOk;
}

void WaitFlag(Cli& cli) {
  cli.AddInt("wait_timeout", 600, "Seconds to wait for the operation to finish.");
}

}  // namespace

void RegisterMediaCommands(CommandRegistry& registry) {
  auto request = [](bool wait) {
    return [wait](Cli& cli) {
      AddMediaRequestFlags(cli);
      if (wait) {
        cli.AddBool("no_wait", false, "Return once the request is scheduled instead of waiting for its end.");
        WaitFlag(cli);
      }
    };
  };
  registry.Add({.path = "media exec",
                .args = "--file=EVENT.json",
                .summary = "Run Gridwich request events (docs/wire-formats.md section 4) and print the response events.",
                .details = "Takes an Event Grid array as Gridwich sends it, decodes it with the gateway's codec,\n"
                           "calls the MediaService and prints every response event (response.acknowledge,\n"
                           "success, scheduled, encode progress, response.failure), one JSON object per\n"
                           "line, until each operation ends. A subscription validation event prints its\n"
                           "validationResponse. Exit 1 if any response was a failure.",
                .min_args = 0,
                .max_args = 0,
                .flags =
                    [](Cli& cli) {
                      cli.AddString("file", "", "Event Grid JSON file (an array of events); - reads stdin.");
                      WaitFlag(cli);
                    },
                .run = RunExec});
  registry.Add({.path = "media metadata",
                .args = "BLOB_URI NAME=VALUE...",
                .summary = "Set a blob's metadata (names must be C# identifiers; 8 KB at most).",
                .details = "",
                .min_args = 1,
                .max_args = -1,
                .flags = request(false),
                .run = RunMetadata});
  registry.Add({.path = "media analyze",
                .args = "BLOB_URI",
                .summary = "Analyse a blob with MediaInfo and print the JSON result and metadata.",
                .details = "",
                .min_args = 1,
                .max_args = 1,
                .flags =
                    [](Cli& cli) {
                      AddMediaRequestFlags(cli);
                      cli.AddBool("complete", true, "MediaInfo's Complete option (every field).");
                    },
                .run = RunAnalyze});
  registry.Add({.path = "media copy",
                .args = "SOURCE_URI DESTINATION_URI",
                .summary = "Copy a blob (the destination container is created if missing).",
                .details = "",
                .min_args = 2,
                .max_args = 2,
                .flags = request(true),
                .run = RunCopy});
  registry.Add({.path = "media delete",
                .args = "BLOB_URI",
                .summary = "Delete a blob.",
                .details = "",
                .min_args = 1,
                .max_args = 1,
                .flags = request(true),
                .run = RunDelete});
  registry.Add({.path = "media sas",
                .args = "BLOB_URI",
                .summary = "Print a SAS URL for a blob (read-only unless --permissions says otherwise).",
                .details = "The URL points where the blob is really served (the local HTTP listener or the\n"
                           "Azure/Azurite endpoint), so curl can fetch it as given.",
                .min_args = 1,
                .max_args = 1,
                .flags =
                    [](Cli& cli) {
                      AddMediaRequestFlags(cli);
                      cli.AddInt("ttl", 3600, "Seconds the URL is valid (1 to 604800).");
                      cli.AddString("permissions", "", "Any of r, c, w; empty means r.");
                    },
                .run = RunSas});
  registry.Add({.path = "media tier",
                .args = "BLOB_URI Hot|Cool|Cold|Archive",
                .summary = "Change a blob's access tier (rehydrate an archived blob with Hot/Cool/Cold).",
                .details = "",
                .min_args = 2,
                .max_args = 2,
                .flags =
                    [](Cli& cli) {
                      AddMediaRequestFlags(cli);
                      cli.AddString("priority", "", "Rehydrate priority: Standard or High.");
                    },
                .run = RunTier});
  registry.Add({.path = "media container create",
                .args = "ACCOUNT CONTAINER",
                .summary = "Create a container.",
                .details = "",
                .min_args = 2,
                .max_args = 2,
                .flags = request(false),
                .run = RunContainerCreate});
  registry.Add({.path = "media container delete",
                .args = "ACCOUNT CONTAINER",
                .summary = "Delete a container and its blobs.",
                .details = "",
                .min_args = 2,
                .max_args = 2,
                .flags = request(false),
                .run = RunContainerDelete});
  registry.Add({.path = "media container access",
                .args = "ACCOUNT CONTAINER Blob|BlobContainer|None",
                .summary = "Change a container's anonymous access level.",
                .details = "",
                .min_args = 3,
                .max_args = 3,
                .flags = request(false),
                .run = RunContainerAccess});
  registry.Add({.path = "media rollkey",
                .args = "ACCOUNT key1|key2",
                .summary = "Regenerate a storage account key (local store only; admin).",
                .details = "",
                .min_args = 2,
                .max_args = 2,
                .flags = [](Cli& cli) { cli.AddString("request_id", "", "Idempotency key; new per run if empty."); },
                .run = RunRollKey});
  registry.Add({.path = "media cancel",
                .args = "OPERATION",
                .summary = "Cancel a scheduled or running encode.",
                .details = "",
                .min_args = 1,
                .max_args = 1,
                .flags = [](Cli& cli) { cli.AddString("request_id", "", "Idempotency key; new per run if empty."); },
                .run = RunCancel});
  registry.Add({.path = "media get",
                .args = "OPERATION",
                .summary = "Show one media operation (operations/ID or ID).",
                .details = "",
                .min_args = 1,
                .max_args = 1,
                .flags = nullptr,
                .run = RunGet});
  registry.Add({.path = "media operations",
                .args = "",
                .summary = "List media operations, optionally by --type and --state.",
                .details = "",
                .min_args = 0,
                .max_args = 0,
                .flags =
                    [](Cli& cli) {
                      cli.AddString("type", "", "Operation type, e.g. ENCODE_FLIP or COPY_BLOB.");
                      cli.AddString("state", "", "State, e.g. SUCCEEDED, FAILED, RUNNING.");
                    },
                .run = RunOperations});
}

}  // namespace switchboard::sbctl
