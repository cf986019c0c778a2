#include "wire/eventgrid.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/uuid.h"
#include "wire/json_util.h"
#include "wire/media_request.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;

std::string Now() {
  google::protobuf::Timestamp ts;
  int64_t us = absl::ToUnixMicros(absl::Now());
  ts.set_seconds(us / 1000000);
  ts.set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
  return FormatRfc3339(ts);
}

// A success (or any response but the ack and response.failure): subject
// "/<eventType>/<id>".
EventGridEvent Success(std::string event_type, json data) {
  EventGridEvent e = NewResponse(std::move(event_type), "", std::move(data));
  e.subject = absl::StrCat("/", e.event_type, "/", e.id);
  return e;
}

// response.rollkey.storage.failure: the request's account and keyName
// (`r`) and the error; no operationContext.
EventGridEvent RollKeyFailure(json r, absl::string_view message) {
  r["error"] = std::string(message);
  return Success(OperationFor(v1::ROLL_STORAGE_KEY)->failure_event_type, std::move(r));
}

absl::StatusOr<std::string> Str(const json& data, const char* key) {
  return RequireString(data, key, absl::StrCat("data.", key));
}

// An optional string member; "" when absent, null or not a string.
std::string OptString(const json& data, const char* key) {
  const json* m = FindMember(data, key);
  return m && m->is_string() ? m->get<std::string>() : "";
}

absl::StatusOr<int64_t> Int(const json& data, const char* key, int64_t min, int64_t max) {
  auto m = RequireMember(data, key, absl::StrCat("data.", key));
  if (!m.ok()) return m.status();
  return JsonToInt(**m, absl::StrCat("data.", key), min, max);
}

#define SB_TRY(lhs, expr)                    \
  auto SB_TRY_##lhs = (expr);                \
  if (!SB_TRY_##lhs.ok()) return SB_TRY_##lhs.status(); \
  auto lhs = std::move(*SB_TRY_##lhs)

const char* TierText(v1::AccessTier t) {
  switch (t) {
    case v1::HOT: return "Hot";
    case v1::COOL: return "Cool";
    case v1::COLD: return "Cold";
    case v1::ARCHIVE: return "Archive";
    default: return "";
  }
}

// An encode's response for its state: the table lists dispatched,
// scheduled, processing and canceled in that order, then the success.
const char* EncodeEventType(const GridwichOperation* op, v1::EncodeState s) {
  if (!op || op->progress_event_types.size() != 4) return nullptr;
  switch (s) {
    case v1::DISPATCHED: return op->progress_event_types[0];
    case v1::ENCODE_SCHEDULED: return op->progress_event_types[1];
    case v1::PROCESSING: return op->progress_event_types[2];
    case v1::ENCODE_CANCELED: return op->progress_event_types[3];
    case v1::SUCCESS: return op->success_event_type;
    default: return nullptr;
  }
}

json ContextJson(const v1::MediaEvent& e) { return StructToJson(e.operation_context()); }

json Echo(const EventGridEvent* request, std::initializer_list<const char*> keys) {
  json out = json::object();
  if (!request) return out;
  for (const char* k : keys) {
    if (request->data.contains(k)) out[k] = request->data[k];
  }
  return out;
}

// Sets d[key] to value unless it is empty (an event logged before the
// server recorded it), keeping what `d` already holds from the request.
void SetIfGiven(json& d, const char* key, const std::string& value) {
  if (!value.empty()) d[key] = value;
}

const char* PriorityText(v1::RehydratePriority p) {
  switch (p) {
    case v1::STANDARD: return "Standard";
    case v1::HIGH: return "High";
    default: return "";
  }
}

const char* AccessText(v1::ContainerAccess a) {
  switch (a) {
    case v1::PRIVATE: return "None";
    case v1::BLOB: return "Blob";
    case v1::BLOB_CONTAINER: return "BlobContainer";
    default: return "";
  }
}

json Metadata(const google::protobuf::Map<std::string, std::string>& m) {
  json out = json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

// "https://acct.blob.core.windows.net/container/" -> account, container.
void SplitContainerUri(const std::string& uri, std::string* account, std::string* container) {
  absl::string_view rest = uri;
  absl::ConsumePrefix(&rest, "https://");
  auto dot = rest.find('.');
  *account = std::string(rest.substr(0, dot));
  auto slash = rest.find('/');
  if (slash == absl::string_view::npos) return;
  absl::string_view c = rest.substr(slash + 1);
  if (absl::EndsWith(c, "/")) c.remove_suffix(1);
  *container = std::string(c);
}

}  // namespace

absl::StatusOr<std::vector<EventGridEvent>> ParseEventGridBatch(absl::string_view body) {
  if (body.size() > kMaxEventGridBody) {
    return FieldError("body", absl::StrCat("is ", body.size(), " bytes; Event Grid batches are at most 1 MB"));
  }
  SB_TRY(j, ParseJson(body));
  if (!j.is_array()) return FieldError("body", "must be a JSON array of events");
  std::vector<EventGridEvent> out;
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    json& e = j[i];
    std::string at = absl::StrCat("[", i, "]");
    if (!e.is_object()) return FieldError(at, "must be an event object");
    EventGridEvent ev;
    SB_TRY(id, RequireString(e, "id", at + ".id"));
    SB_TRY(type, RequireString(e, "eventType", at + ".eventType"));
    ev.id = id;
    ev.event_type = type;
    // The Event Grid schema requires subject, eventTime and dataVersion
    // (subject and dataVersion may be empty); topic and metadataVersion are
    // optional, but strings when present.
    SB_TRY(subject, RequireString(e, "subject", at + ".subject", /*allow_empty=*/true));
    SB_TRY(event_time, RequireString(e, "eventTime", at + ".eventTime"));
    if (auto t = ParseRfc3339(event_time); !t.ok()) {
      return FieldError(at + ".eventTime", absl::StrCat("must be an RFC 3339 date-time such as "
                                                        "2026-11-22T10:00:00Z: ", t.status().message()));
    }
    SB_TRY(data_version, RequireString(e, "dataVersion", at + ".dataVersion", /*allow_empty=*/true));
    for (const char* optional : {"topic", "metadataVersion"}) {
      auto it = e.find(optional);
      if (it != e.end() && !it->is_string()) {
        return FieldError(absl::StrCat(at, ".", optional), absl::StrCat("must be a string, got ", JsonTypeName(*it)));
      }
    }
    ev.subject = std::move(subject);
    ev.event_time = std::move(event_time);
    ev.data_version = std::move(data_version);
    if (auto it = e.find("topic"); it != e.end()) ev.topic = std::move(it->get_ref<std::string&>());
    auto data = e.find("data");
    if (data == e.end() || !data->is_object()) return FieldError(at + ".data", "must be a JSON object");
    ev.data = std::move(*data);
    out.push_back(std::move(ev));
  }
  return out;
}

std::optional<json> ValidationResponse(const std::vector<EventGridEvent>& batch) {
  for (const auto& e : batch) {
    if (e.event_type == "Microsoft.EventGrid.SubscriptionValidationEvent") {
      const json* code = FindMember(e.data, "validationCode");
      return json{{"validationResponse", code && code->is_string() ? code->get<std::string>() : ""}};
    }
  }
  return std::nullopt;
}

bool IsRollKey(absl::string_view event_type) { return event_type == "request.rollkey.storage"; }

std::string RequestEventType(v1::OperationType type) {
  const GridwichOperation* op = OperationFor(type);
  return op ? op->request_event_type : "";
}

absl::Status DecodeMediaRequest(const EventGridEvent& e, v1::MediaRequest* out) {
  const json& d = e.data;
  out->Clear();
  // data.operationContext is checked first, whatever the eventType (but
  // rollkey's, which is ignored); it then moves into the request.
  google::protobuf::Struct context;
  if (const json* ctx = FindMember(d, "operationContext"); ctx && !IsRollKey(e.event_type)) {
    if (!ctx->is_object()) return FieldError("data.operationContext", "must be a JSON object");
    SB_TRY(s, JsonToStruct(*ctx, "data.operationContext"));
    context.Swap(&s);
  }
  auto common = [&](auto* req) {
    req->set_request_id(e.id);
    req->set_event_subject(e.subject);
    req->mutable_operation_context()->Swap(&context);
  };
  const std::string& t = e.event_type;
  if (t == "request.blob.metadata.create") {
    v1::SetBlobMetadataRequest* r = out->mutable_set_blob_metadata();
    common(r);
    SB_TRY(uri, Str(d, "blobUri"));
    r->set_blob_uri(std::move(uri));
    SB_TRY(md, RequireMember(d, "blobMetadata", "data.blobMetadata"));
    if (!md->is_object()) return FieldError("data.blobMetadata", "must be an object of name -> string");
    for (auto& [k, v] : md->items()) {
      if (!v.is_string()) return FieldError(absl::StrCat("data.blobMetadata.", k), "must be a string");
      (*r->mutable_blob_metadata())[k] = v.get<std::string>();
    }
  } else if (t == "request.blob.analysis.create") {
    v1::AnalyzeBlobRequest* r = out->mutable_analyze_blob();
    common(r);
    SB_TRY(uri, Str(d, "blobUri"));
    r->set_blob_uri(std::move(uri));
    const json* asd = FindMember(d, "analyzerSpecificData");
    const json* mi = asd && asd->is_object() ? FindMember(*asd, "mediaInfo") : nullptr;
    const json* opts = mi && mi->is_object() ? FindMember(*mi, "commandLineOptions") : nullptr;
    if (opts) {
      if (!opts->is_object()) {
        return FieldError("data.analyzerSpecificData.mediaInfo.commandLineOptions", "must be an object");
      }
      for (auto& [k, v] : opts->items()) {
        (*r->mutable_mediainfo_options())[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
    }
  } else if (t == "request.blob.copy") {
    v1::CopyBlobRequest* r = out->mutable_copy_blob();
    common(r);
    SB_TRY(src, Str(d, "sourceUri"));
    SB_TRY(dst, Str(d, "destinationUri"));
    r->set_source_uri(std::move(src));
    r->set_destination_uri(std::move(dst));
  } else if (t == "request.blob.delete") {
    v1::DeleteBlobRequest* r = out->mutable_delete_blob();
    common(r);
    SB_TRY(uri, Str(d, "blobUri"));
    r->set_blob_uri(std::move(uri));
  } else if (t == "request.blob.sas-url.create") {
    v1::CreateSasUrlRequest* r = out->mutable_create_sas_url();
    common(r);
    SB_TRY(uri, Str(d, "blobUri"));
    SB_TRY(ttl, Int(d, "secToLive", INT32_MIN, INT64_MAX));
    r->set_blob_uri(std::move(uri));
    r->set_sec_to_live(ttl);
  } else if (t == "request.blob.tier.change") {
    v1::ChangeBlobTierRequest* r = out->mutable_change_blob_tier();
    common(r);
    SB_TRY(uri, Str(d, "blobUri"));
    SB_TRY(tier, Str(d, "accessTier"));
    r->set_blob_uri(std::move(uri));
    if (tier == "Hot") r->set_access_tier(v1::HOT);
    else if (tier == "Cool") r->set_access_tier(v1::COOL);
    else if (tier == "Cold") r->set_access_tier(v1::COLD);
    else if (tier == "Archive") r->set_access_tier(v1::ARCHIVE);
    else return FieldError("data.accessTier", absl::StrCat("'", tier, "' is not Hot, Cool, Cold or Archive"));
    if (const json* p = FindMember(d, "rehydratePriority")) {
      std::string prio = p->is_string() ? p->get<std::string>() : "";
      if (prio == "Standard") r->set_rehydrate_priority(v1::STANDARD);
      else if (prio == "High") r->set_rehydrate_priority(v1::HIGH);
      else return FieldError("data.rehydratePriority", "must be Standard or High");
    }
  } else if (t == "request.blob.container.create" || t == "request.blob.container.delete" ||
             t == "request.blob.container.access.change") {
    SB_TRY(account, Str(d, "storageAccountName"));
    SB_TRY(container, Str(d, "containerName"));
    auto names = [&](auto* r) {
      common(r);
      r->set_storage_account_name(std::move(account));
      r->set_container_name(std::move(container));
    };
    if (t == "request.blob.container.create") {
      names(out->mutable_create_container());
    } else if (t == "request.blob.container.delete") {
      names(out->mutable_delete_container());
    } else {
      v1::ChangeContainerAccessRequest* r = out->mutable_change_container_access();
      names(r);
      SB_TRY(access, Str(d, "accessType"));
      if (access == "Blob") r->set_access(v1::BLOB);
      else if (access == "BlobContainer") r->set_access(v1::BLOB_CONTAINER);
      else if (access == "None") r->set_access(v1::PRIVATE);
      else return FieldError("data.accessType", absl::StrCat("'", access, "' is not Blob, BlobContainer or None"));
    }
  } else if (t == "request.rollkey.storage") {
    v1::RollStorageKeyRequest* r = out->mutable_roll_storage_key();
    r->set_request_id(e.id);
    SB_TRY(account, Str(d, "account"));
    SB_TRY(key, Str(d, "keyName"));
    r->set_account(std::move(account));
    r->set_key_name(std::move(key));
  } else if (t == "request.encode.flip.create" || t == "request.encode.cloudport.create") {
    v1::EncodeRequest* r = out->mutable_encode();
    common(r);
    bool flip = t == "request.encode.flip.create";
    r->set_encoder(flip ? v1::FLIP : v1::CLOUDPORT);
    SB_TRY(inputs, RequireMember(d, "inputs", "data.inputs"));
    if (!inputs->is_array() || inputs->empty()) return FieldError("data.inputs", "must be an array of {blobUri}");
    for (size_t i = 0; i < inputs->size(); ++i) {
      const json& in = (*inputs)[i];
      if (!in.is_object()) return FieldError(absl::StrCat("data.inputs[", i, "]"), "must be an object {blobUri}");
      SB_TRY(uri, RequireString(in, "blobUri", absl::StrCat("data.inputs[", i, "].blobUri")));
      r->add_input_uris(std::move(uri));
    }
    SB_TRY(outc, Str(d, "outputContainer"));
    r->set_output_container(std::move(outc));
    if (flip) {
      SB_TRY(profiles, Str(d, "profiles"));
      r->set_profiles(std::move(profiles));
      if (const json* f = FindMember(d, "factoryName"); f && f->is_string()) r->set_factory_name(f->get<std::string>());
    } else {
      SB_TRY(wf, Str(d, "workflowName"));
      r->set_workflow_name(std::move(wf));
    }
    if (const json* p = FindMember(d, "parameters")) {
      if (!p->is_array()) return FieldError("data.parameters", "must be an array of objects");
      for (size_t i = 0; i < p->size(); ++i) {
        if (!(*p)[i].is_object()) return FieldError(absl::StrCat("data.parameters[", i, "]"), "must be an object");
        SB_TRY(s, JsonToStruct((*p)[i], absl::StrCat("data.parameters[", i, "]")));
        r->add_parameters()->Swap(&s);
      }
    }
    SB_TRY(ttl, Int(d, "secToLive", INT32_MIN, INT64_MAX));
    r->set_sec_to_live(ttl);
  } else if (t == "Microsoft.Storage.BlobCreated" || t == "Microsoft.Storage.BlobDeleted") {
    // Its operation context travelled through storage in clientRequestId
    // (OperationContextOf reads it there).
    v1::ReportStorageEventRequest* r = out->mutable_report_storage_event();
    r->set_request_id(e.id);
    v1::StorageEvent* ev = r->mutable_event();
    ev->set_kind(t == "Microsoft.Storage.BlobCreated" ? v1::StorageEvent::BLOB_CREATED
                                                      : v1::StorageEvent::BLOB_DELETED);
    SB_TRY(url, Str(d, "url"));
    ev->set_blob_uri(std::move(url));
    ev->set_client_request_id(OptString(d, "clientRequestId"));
    ev->set_content_type(OptString(d, "contentType"));
    if (const json* n = FindMember(d, "contentLength"); n && n->is_number_integer()) {
      ev->set_content_length(n->get<int64_t>());
    }
    ev->set_etag(OptString(d, "eTag"));
  } else {
    return absl::NotFoundError(absl::StrCat("eventType '", t, "' is not a request this service handles"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::MediaRequest> DecodeMediaRequest(const EventGridEvent& e) {
  v1::MediaRequest out;
  if (absl::Status s = DecodeMediaRequest(e, &out); !s.ok()) return s;
  return out;
}

google::protobuf::Struct OperationContextOf(const v1::MediaRequest& request) {
  if (request.has_report_storage_event()) {
    json ctx = json::parse(request.report_storage_event().event().client_request_id(), nullptr, false);
    if (ctx.is_discarded() || !ctx.is_object()) return {};
    auto s = JsonToStruct(ctx, "data.clientRequestId");
    return s.ok() ? std::move(*s) : google::protobuf::Struct();
  }
  return VisitMediaRequest(request, [](const auto& r) -> google::protobuf::Struct {
    if constexpr (requires { r.operation_context(); }) {
      return r.operation_context();
    } else {
      return {};
    }
  });
}

bool IsFinalEvent(const v1::MediaEvent& e) {
  switch (e.payload_case()) {
    case v1::MediaEvent::kSucceeded:
    case v1::MediaEvent::kFailure:
    case v1::MediaEvent::kStorage: return true;
    case v1::MediaEvent::kEncode:
      return e.encode().state() == v1::SUCCESS || e.encode().state() == v1::ENCODE_CANCELED ||
             e.encode().state() == v1::FAILURE;
    default: return false;
  }
}

EventGridEvent NewResponse(std::string event_type, std::string subject, json data) {
  EventGridEvent e;
  e.id = NewUuid();
  e.subject = std::move(subject);
  e.event_type = std::move(event_type);
  e.event_time = Now();
  e.data_version = "1.0";
  e.data = std::move(data);
  return e;
}

json ToJson(const EventGridEvent& e) {
  return json{{"id", e.id},
              {"topic", e.topic},
              {"subject", e.subject},
              {"eventType", e.event_type},
              {"eventTime", e.event_time},
              {"dataVersion", e.data_version},
              {"metadataVersion", "1"},
              {"data", e.data}};
}

EventGridEvent Acknowledge(const EventGridEvent& request, json operation_context) {
  EventGridEvent e = NewResponse(kAcknowledgeEventType, "",
                                 json{{"operationContext", std::move(operation_context)}, {"eventType", request.event_type}});
  e.subject = absl::StrCat(request.subject, "/", e.id);
  return e;
}

json AcknowledgeEvent(const EventGridEvent& request, const google::protobuf::Struct& context) {
  return ToJson(Acknowledge(request, StructToJson(context)));
}

std::optional<json> ResponseFor(const v1::MediaEvent& e, const EventGridEvent* request) {
  auto event = ResponseEventFor(e, request);
  if (!event) return std::nullopt;
  return ToJson(*event);
}

std::optional<EventGridEvent> ResponseEventFor(const v1::MediaEvent& e, const EventGridEvent* request) {
  const v1::OperationType type = e.operation_type();
  // The response eventTypes come from the Gridwich table; an operation type
  // it lacks has none.
  const GridwichOperation* gw = OperationFor(type);
  json ctx = ContextJson(e);
  switch (e.payload_case()) {
    case v1::MediaEvent::kAcknowledged: {
      if (!gw || !gw->acknowledged) return std::nullopt;
      // The server keeps the request's subject (MediaEvent.echo); the
      // request itself is only a fallback for events logged before it did.
      EventGridEvent answered;
      answered.event_type = gw->request_event_type;
      answered.subject = !e.echo().subject().empty() ? e.echo().subject() : request ? request->subject : "";
      return Acknowledge(answered, std::move(ctx));
    }
    case v1::MediaEvent::kSucceeded: {
      if (!gw) return std::nullopt;
      const v1::Operation& op = e.succeeded();
      json d = {{"operationContext", std::move(ctx)}};
      switch (type) {
        case v1::SET_BLOB_METADATA:
          d["blobUri"] = op.target_uri();
          d["blobMetadata"] = Metadata(op.blob().metadata());
          break;
        case v1::ANALYZE_BLOB:
          d["blobUri"] = op.target_uri();
          d["blobMetadata"] = Metadata(op.blob_metadata());
          d["analysisResult"] = StructToJson(op.analysis_result());
          d["analysisResults"] = d["analysisResult"];
          break;
        case v1::CREATE_SAS_URL:
          d["sasUrl"] = op.sas_url();
          break;
        case v1::CHANGE_BLOB_TIER:
          d["blobUri"] = op.target_uri();
          d["accessTier"] = TierText(e.echo().access_tier() != v1::ACCESS_TIER_UNSPECIFIED ? e.echo().access_tier()
                                                                                          : op.blob().access_tier());
          d.update(Echo(request, {"accessTier", "rehydratePriority"}));
          SetIfGiven(d, "rehydratePriority", PriorityText(e.echo().rehydrate_priority()));
          break;
        case v1::CREATE_CONTAINER:
        case v1::DELETE_CONTAINER:
        case v1::CHANGE_CONTAINER_ACCESS: {
          std::string account, container;
          SplitContainerUri(op.target_uri(), &account, &container);
          d["storageAccountName"] = account;
          d["containerName"] = container;
          d.update(Echo(request, {"storageAccountName", "containerName", "accessType"}));
          if (type == v1::CHANGE_CONTAINER_ACCESS) SetIfGiven(d, "accessType", AccessText(e.echo().access()));
          break;
        }
        case v1::ROLL_STORAGE_KEY: {
          std::string account, container;
          SplitContainerUri(op.target_uri(), &account, &container);
          json r = {{"account", account}};
          r.update(Echo(request, {"keyName"}));
          SetIfGiven(r, "account", e.echo().account());
          SetIfGiven(r, "keyName", e.echo().key_name());
          return Success(gw->success_event_type, std::move(r));
        }
        // Copies and deletes end with a storage event, encodes with their
        // own progress: their operation's success is not on the wire.
        default: return std::nullopt;
      }
      return Success(gw->success_event_type, std::move(d));
    }
    case v1::MediaEvent::kScheduled: {
      if (!gw || gw->progress_event_types.empty()) return std::nullopt;
      const v1::Operation& op = e.scheduled();
      const char* et = gw->progress_event_types.front();  // response.blob.<copy|delete>.scheduled
      if (type == v1::COPY_BLOB) {
        json d = {{"operationContext", std::move(ctx)}, {"destinationUri", op.target_uri()},
                  {"blobMetadata", Metadata(op.blob_metadata())}};
        d.update(Echo(request, {"sourceUri"}));
        SetIfGiven(d, "sourceUri", e.echo().source_uri());
        return Success(et, std::move(d));
      }
      if (type == v1::DELETE_BLOB) {
        return Success(et, json{{"operationContext", std::move(ctx)},
                                {"blobUri", op.target_uri()},
                                {"blobMetadata", Metadata(op.blob_metadata())}});
      }
      return std::nullopt;
    }
    case v1::MediaEvent::kStorage: {
      // With or without an operation: a blob created (a copy's end, or any
      // write) or deleted (a delete's end, or any delete).
      const v1::StorageEvent& s = e.storage();
      json d = {{"operationContext", std::move(ctx)}, {"blobUri", s.blob_uri()}};
      if (s.kind() == v1::StorageEvent::BLOB_CREATED) {
        d["contentType"] = s.content_type();
        d["contentLength"] = s.content_length();
        d["eTag"] = s.etag();
        return Success(OperationFor(v1::COPY_BLOB)->success_event_type, std::move(d));
      }
      if (s.kind() == v1::StorageEvent::BLOB_DELETED) {
        return Success(OperationFor(v1::DELETE_BLOB)->success_event_type, std::move(d));
      }
      return std::nullopt;
    }
    case v1::MediaEvent::kEncode: {
      const v1::EncodeProgress& p = e.encode();
      const char* et = EncodeEventType(gw, p.state());
      if (!et) return std::nullopt;
      json d = {{"operationContext", std::move(ctx)},
                {"encoderContext", StructToJson(p.encoder_context())},
                {"workflowJobName", p.workflow_job_name()}};
      if (p.state() == v1::PROCESSING) {
        d["percentComplete"] = p.percent_complete();
        d["currentStatus"] = p.current_status();
      }
      if (p.state() == v1::SUCCESS) {
        json outs = json::array();
        for (const auto& u : p.output_uris()) outs.push_back({{"blobUri", u}});
        d["outputs"] = outs;
      }
      return Success(et, std::move(d));
    }
    case v1::MediaEvent::kFailure: {
      const v1::Failure& f = e.failure();
      if (type == v1::ROLL_STORAGE_KEY) {
        json r = Echo(request, {"account", "keyName"});
        SetIfGiven(r, "account", e.echo().account());
        SetIfGiven(r, "keyName", e.echo().key_name());
        return RollKeyFailure(std::move(r), f.log_event_message());
      }
      return FailureEvent(f, std::move(ctx));
    }
    default: return std::nullopt;
  }
}

EventGridEvent FailureEvent(const v1::Failure& f, json operation_context) {
  json d = {{"operationContext", std::move(operation_context)},
            {"logEventId", f.log_event_id()},
            {"logEventMessage", f.log_event_message()},
            {"logRecordId", f.log_record_id()},
            {"logRecordUrl", f.log_record_url()},
            {"eventHandlerClassName", f.event_handler_class_name()},
            {"handlerId", f.handler_id()}};
  return NewResponse(kFailureEventType,
                     absl::StrCat("gridwichFailure/", f.event_handler_class_name(), "/", f.log_event_id()),
                     std::move(d));
}

EventGridEvent RequestFailure(const EventGridEvent& request, json operation_context, int log_event_id,
                              absl::string_view message, absl::string_view handler) {
  if (IsRollKey(request.event_type)) return RollKeyFailure(Echo(&request, {"account", "keyName"}), message);
  const absl::StatusCode code =
      log_event_id == kLogRequestUnknownType ? absl::StatusCode::kNotFound : absl::StatusCode::kInvalidArgument;
  return FailureEvent(MakeFailure(log_event_id, handler, message, code), std::move(operation_context));
}

json RequestFailureEvent(const EventGridEvent& request, const google::protobuf::Struct& context, int log_event_id,
                         absl::string_view message, absl::string_view handler) {
  return ToJson(RequestFailure(request, StructToJson(context), log_event_id, message, handler));
}

json RawOperationContext(const EventGridEvent& event) {
  const json* c = FindMember(event.data, "operationContext");
  return c ? *c : json(nullptr);
}

}  // namespace switchboard::wire
