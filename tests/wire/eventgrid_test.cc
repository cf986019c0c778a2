// Event Grid codec (docs/wire-formats.md section 4): every fixture under
// ${SB_FIXTURES_DIR}/eventgrid is decoded and compared field by field with
// its JSON; the responses a service would produce for it are encoded and
// compared field by field with the request they answer; then one test per
// docs/wire-formats.md rule feeds bad input.

#include "wire/eventgrid.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/json_util.h"
#include "wire/media_request.h"
#include "server/media/request_echo.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << "cannot read " << p;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::filesystem::path FixtureDir() { return std::filesystem::path(SB_FIXTURES_DIR) / "eventgrid"; }

std::vector<EventGridEvent> LoadFixture(const std::string& name) {
  auto batch = ParseEventGridBatch(ReadFile(FixtureDir() / name));
  EXPECT_TRUE(batch.ok()) << name << ": " << batch.status();
  if (!batch.ok()) return {};
  return *batch;
}

bool IsGuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// The envelope rules every response shares.
void ExpectEnvelope(const json& ev, const std::string& event_type) {
  ASSERT_TRUE(ev.is_object()) << ev.dump();
  EXPECT_EQ(ev.value("eventType", ""), event_type);
  EXPECT_EQ(ev.value("dataVersion", ""), "1.0");
  EXPECT_TRUE(IsGuid(ev.value("id", ""))) << ev.value("id", "");
  auto t = ParseRfc3339(ev.value("eventTime", ""));
  EXPECT_TRUE(t.ok()) << "eventTime " << ev.value("eventTime", "");
  ASSERT_TRUE(ev.contains("data") && ev["data"].is_object());
  for (const char* k : {"topic", "subject", "metadataVersion"}) EXPECT_TRUE(ev.contains(k)) << k;
}

void ExpectSuccessSubject(const json& ev) {
  EXPECT_EQ(ev.value("subject", ""), absl::StrCat("/", ev.value("eventType", ""), "/", ev.value("id", "")));
}

json Ctx(const EventGridEvent& e) { return e.data.contains("operationContext") ? e.data["operationContext"] : json(); }

// Field by field: the decoded request against the fixture's data.
void ExpectDecodedMatches(const EventGridEvent& e, const v1::MediaRequest& r) {
  const json& d = e.data;
  if (!IsRollKey(e.event_type) && d.contains("operationContext")) {
    EXPECT_EQ(StructToJson(OperationContextOf(r)), d["operationContext"]) << e.event_type;
  }
  VisitMediaRequest(
      r, [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, v1::ReportStorageEventRequest>) {
          EXPECT_EQ(m.request_id(), e.id);
          EXPECT_EQ(m.event().blob_uri(), d["url"].get<std::string>());
          EXPECT_EQ(m.event().client_request_id(), d["clientRequestId"].get<std::string>());
          EXPECT_EQ(m.event().content_type(), d["contentType"].get<std::string>());
          EXPECT_EQ(m.event().content_length(), d["contentLength"].get<int64_t>());
          EXPECT_EQ(m.event().etag(), d["eTag"].get<std::string>());
          EXPECT_EQ(m.event().kind(), e.event_type == "Microsoft.Storage.BlobCreated"
                                          ? v1::StorageEvent::BLOB_CREATED
                                          : v1::StorageEvent::BLOB_DELETED);
          // The context travelled through storage in clientRequestId.
          EXPECT_EQ(StructToJson(OperationContextOf(r)), json::parse(d["clientRequestId"].get<std::string>()));
        } else {
          EXPECT_EQ(m.request_id(), e.id);
          if constexpr (std::is_same_v<T, v1::RollStorageKeyRequest>) {
            EXPECT_EQ(m.account(), d["account"].get<std::string>());
            EXPECT_EQ(m.key_name(), d["keyName"].get<std::string>());
            EXPECT_TRUE(OperationContextOf(r).fields().empty()) << "rollkey carries no operationContext";
          } else {
            EXPECT_EQ(StructToJson(m.operation_context()), d["operationContext"]);
            // The ack's subject prefix travels with the request to the server.
            EXPECT_EQ(m.event_subject(), e.subject);
            EXPECT_FALSE(m.event_subject().empty());
          }
          if constexpr (std::is_same_v<T, v1::SetBlobMetadataRequest>) {
            EXPECT_EQ(m.blob_uri(), d["blobUri"].get<std::string>());
            EXPECT_EQ(static_cast<size_t>(m.blob_metadata().size()), d["blobMetadata"].size());
            for (auto& [k, v] : d["blobMetadata"].items()) {
              ASSERT_EQ(m.blob_metadata().count(k), 1u) << k;
              EXPECT_EQ(json(m.blob_metadata().at(k)), v) << k;
            }
          }
          if constexpr (std::is_same_v<T, v1::AnalyzeBlobRequest>) {
            EXPECT_EQ(m.blob_uri(), d["blobUri"].get<std::string>());
            const json& o = d["analyzerSpecificData"]["mediaInfo"]["commandLineOptions"];
            EXPECT_EQ(static_cast<size_t>(m.mediainfo_options().size()), o.size());
            for (auto& [k, v] : o.items()) EXPECT_EQ(json(m.mediainfo_options().at(k)), v) << k;
          }
          if constexpr (std::is_same_v<T, v1::CopyBlobRequest>) {
            EXPECT_EQ(m.source_uri(), d["sourceUri"].get<std::string>());
            EXPECT_EQ(m.destination_uri(), d["destinationUri"].get<std::string>());
          }
          if constexpr (std::is_same_v<T, v1::DeleteBlobRequest>) {
            EXPECT_EQ(m.blob_uri(), d["blobUri"].get<std::string>());
          }
          if constexpr (std::is_same_v<T, v1::CreateSasUrlRequest>) {
            EXPECT_EQ(m.blob_uri(), d["blobUri"].get<std::string>());
            EXPECT_EQ(m.sec_to_live(), d["secToLive"].get<int64_t>());
            EXPECT_EQ(m.permissions(), "") << "Gridwich asks for read-only";
          }
          if constexpr (std::is_same_v<T, v1::ChangeBlobTierRequest>) {
            EXPECT_EQ(m.blob_uri(), d["blobUri"].get<std::string>());
            EXPECT_EQ(v1::AccessTier_Name(m.access_tier()), "COOL");
            EXPECT_EQ(d["accessTier"], "Cool");
            EXPECT_EQ(m.rehydrate_priority(), v1::STANDARD);
            EXPECT_EQ(d["rehydratePriority"], "Standard");
          }
          if constexpr (std::is_same_v<T, v1::CreateContainerRequest> ||
                        std::is_same_v<T, v1::DeleteContainerRequest> ||
                        std::is_same_v<T, v1::ChangeContainerAccessRequest>) {
            EXPECT_EQ(m.storage_account_name(), d["storageAccountName"].get<std::string>());
            EXPECT_EQ(m.container_name(), d["containerName"].get<std::string>());
          }
          if constexpr (std::is_same_v<T, v1::ChangeContainerAccessRequest>) {
            EXPECT_EQ(d["accessType"], "Blob");
            EXPECT_EQ(m.access(), v1::BLOB);
          }
          if constexpr (std::is_same_v<T, v1::EncodeRequest>) {
            bool flip = e.event_type == "request.encode.flip.create";
            EXPECT_EQ(m.encoder(), flip ? v1::FLIP : v1::CLOUDPORT);
            ASSERT_EQ(static_cast<size_t>(m.input_uris_size()), d["inputs"].size());
            for (size_t i = 0; i < d["inputs"].size(); ++i) {
              EXPECT_EQ(m.input_uris(static_cast<int>(i)), d["inputs"][i]["blobUri"].get<std::string>());
            }
            EXPECT_EQ(m.output_container(), d["outputContainer"].get<std::string>());
            if (flip) {
              EXPECT_EQ(m.profiles(), d["profiles"].get<std::string>());
              EXPECT_EQ(m.factory_name(), d["factoryName"].get<std::string>());
            } else {
              EXPECT_EQ(m.workflow_name(), d["workflowName"].get<std::string>());
            }
            ASSERT_EQ(static_cast<size_t>(m.parameters_size()), d["parameters"].size());
            for (size_t i = 0; i < d["parameters"].size(); ++i) {
              EXPECT_EQ(StructToJson(m.parameters(static_cast<int>(i))), d["parameters"][i]);
            }
            EXPECT_EQ(m.sec_to_live(), d["secToLive"].get<int64_t>());
          }
        }
      });
}

v1::OperationType TypeOf(const v1::MediaRequest& r) {
  return VisitMediaRequest(
      r, [](const auto& m) -> v1::OperationType {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, v1::SetBlobMetadataRequest>) return v1::SET_BLOB_METADATA;
        if constexpr (std::is_same_v<T, v1::AnalyzeBlobRequest>) return v1::ANALYZE_BLOB;
        if constexpr (std::is_same_v<T, v1::CopyBlobRequest>) return v1::COPY_BLOB;
        if constexpr (std::is_same_v<T, v1::DeleteBlobRequest>) return v1::DELETE_BLOB;
        if constexpr (std::is_same_v<T, v1::CreateSasUrlRequest>) return v1::CREATE_SAS_URL;
        if constexpr (std::is_same_v<T, v1::ChangeBlobTierRequest>) return v1::CHANGE_BLOB_TIER;
        if constexpr (std::is_same_v<T, v1::CreateContainerRequest>) return v1::CREATE_CONTAINER;
        if constexpr (std::is_same_v<T, v1::DeleteContainerRequest>) return v1::DELETE_CONTAINER;
        if constexpr (std::is_same_v<T, v1::ChangeContainerAccessRequest>) return v1::CHANGE_CONTAINER_ACCESS;
        if constexpr (std::is_same_v<T, v1::RollStorageKeyRequest>) return v1::ROLL_STORAGE_KEY;
        if constexpr (std::is_same_v<T, v1::EncodeRequest>) {
          return m.encoder() == v1::FLIP ? v1::ENCODE_FLIP : v1::ENCODE_CLOUDPORT;
        }
        return v1::OPERATION_TYPE_UNSPECIFIED;
      });
}

// A MediaEvent of the operation `r` starts, as OpRecorder writes it: the
// operation's type, context and the engine's RequestEcho of the request.
v1::MediaEvent EventOf(const v1::MediaRequest& r, v1::OperationType type) {
  v1::MediaEvent e;
  e.set_operation_type(type);
  if (type != v1::ROLL_STORAGE_KEY) *e.mutable_operation_context() = OperationContextOf(r);
  VisitMediaRequest(r, [&](const auto& m) {
    if constexpr (!std::is_same_v<std::decay_t<decltype(m)>, v1::ReportStorageEventRequest>) {
      *e.mutable_echo() = media::EchoOf(m);
    }
  });
  return e;
}

// The same event as logged before the server kept the echo.
v1::MediaEvent WithoutEcho(v1::MediaEvent e) {
  e.clear_echo();
  return e;
}

// The responses a service sends for a request after the ack, built as the
// engine builds its MediaEvents, encoded, and checked against the request.
void ExpectResponsesMatch(const EventGridEvent& req, const v1::MediaRequest& r) {
  const json& d = req.data;
  v1::OperationType type = TypeOf(r);
  ASSERT_NE(type, v1::OPERATION_TYPE_UNSPECIFIED) << req.event_type;
  EXPECT_EQ(RequestEventType(type), req.event_type);
  json ctx = Ctx(req);

  // Ack: none for rollkey.
  {
    v1::MediaEvent e = EventOf(r, type);
    e.set_acknowledged(type);
    // Without the request (a stateless gateway): all from the event.
    auto ack = ResponseFor(e, nullptr);
    if (IsRollKey(req.event_type)) {
      EXPECT_FALSE(ack.has_value()) << "rollkey has no acknowledge";
      EXPECT_FALSE(ResponseFor(e, &req).has_value());
    } else {
      ASSERT_TRUE(ack.has_value());
      ExpectEnvelope(*ack, "response.acknowledge");
      EXPECT_EQ((*ack)["subject"], absl::StrCat(req.subject, "/", (*ack)["id"].get<std::string>()));
      EXPECT_EQ((*ack)["data"]["operationContext"], ctx);
      EXPECT_EQ((*ack)["data"]["eventType"], req.event_type);
      // An event logged without the echo takes the subject from the request.
      auto old = ResponseFor(WithoutEcho(e), &req);
      ASSERT_TRUE(old.has_value());
      EXPECT_EQ((*old)["subject"], absl::StrCat(req.subject, "/", (*old)["id"].get<std::string>()));
    }
  }

  // Failure.
  {
    v1::MediaEvent e = EventOf(r, type);
    v1::Failure* f = e.mutable_failure();
    f->set_log_event_id(312001);
    f->set_log_event_message("blob_uri: no such blob; upload it first");
    f->set_log_record_id("11111111-2222-4333-8444-555555555555");
    f->set_log_record_url("");
    f->set_event_handler_class_name("BlobCopyHandler");
    f->set_handler_id("66666666-7777-4888-8999-aaaaaaaaaaaa");
    auto out = ResponseFor(e, nullptr);
    ASSERT_TRUE(out.has_value());
    if (IsRollKey(req.event_type)) {
      ExpectEnvelope(*out, "response.rollkey.storage.failure");
      ExpectSuccessSubject(*out);
      EXPECT_EQ((*out)["data"]["account"], d["account"]);
      EXPECT_EQ((*out)["data"]["keyName"], d["keyName"]);
      EXPECT_EQ((*out)["data"]["error"], f->log_event_message());
      EXPECT_FALSE((*out)["data"].contains("operationContext"));
      auto old = ResponseFor(WithoutEcho(e), &req);
      ASSERT_TRUE(old.has_value());
      EXPECT_EQ((*old)["data"]["account"], d["account"]) << "from the request when the event lacks it";
      EXPECT_EQ((*old)["data"]["keyName"], d["keyName"]);
    } else {
      ExpectEnvelope(*out, "response.failure");
      EXPECT_EQ((*out)["subject"], "gridwichFailure/BlobCopyHandler/312001");
      const json& fd = (*out)["data"];
      EXPECT_EQ(fd["operationContext"], ctx);
      EXPECT_EQ(fd["logEventId"], 312001);
      EXPECT_TRUE(fd["logEventId"].is_number_integer());
      EXPECT_EQ(fd["logEventMessage"], f->log_event_message());
      EXPECT_EQ(fd["logRecordId"], f->log_record_id());
      EXPECT_EQ(fd["logRecordUrl"], "");
      EXPECT_EQ(fd["eventHandlerClassName"], "BlobCopyHandler");
      EXPECT_EQ(fd["handlerId"], f->handler_id());
    }
  }

  // Success-type responses.
  auto one = [&](const v1::MediaEvent& e, const std::string& want_type) -> json {
    auto out = ResponseFor(e, nullptr);
    EXPECT_TRUE(out.has_value()) << want_type;
    if (!out) return json::object();
    ExpectEnvelope(*out, want_type);
    ExpectSuccessSubject(*out);
    if (type != v1::ROLL_STORAGE_KEY) {
      EXPECT_EQ((*out)["data"]["operationContext"], ctx) << want_type;
    } else {
      EXPECT_FALSE((*out)["data"].contains("operationContext"));
    }
    return (*out)["data"];
  };
  const std::string container_uri = "https://devstoreaccount1.blob.core.windows.net/";
  switch (type) {
    case v1::SET_BLOB_METADATA: {
      v1::MediaEvent e = EventOf(r, type);
      e.mutable_succeeded()->set_target_uri(d["blobUri"]);
      for (auto& [k, v] : d["blobMetadata"].items()) (*e.mutable_succeeded()->mutable_blob()->mutable_metadata())[k] = v;
      json out = one(e, "response.blob.metadata.success");
      EXPECT_EQ(out["blobUri"], d["blobUri"]);
      EXPECT_EQ(out["blobMetadata"], d["blobMetadata"]);
      break;
    }
    case v1::ANALYZE_BLOB: {
      v1::MediaEvent e = EventOf(r, type);
      auto* op = e.mutable_succeeded();
      op->set_target_uri(d["blobUri"]);
      (*op->mutable_blob_metadata())["title"] = "Clip one";
      json result = {{"media", {{"@ref", "clip.mp4"}, {"track", json::array({{{"@type", "General"}}})}}}};
      *op->mutable_analysis_result() = *JsonToStruct(result, "r");
      json out = one(e, "response.blob.analysis.success");
      EXPECT_EQ(out["blobUri"], d["blobUri"]);
      EXPECT_EQ(out["blobMetadata"], json({{"title", "Clip one"}}));
      EXPECT_EQ(out["analysisResult"], result);
      EXPECT_EQ(out["analysisResults"], result) << "docs/wire-formats.md: emit both spellings";
      break;
    }
    case v1::COPY_BLOB: {
      v1::MediaEvent e = EventOf(r, type);
      e.mutable_scheduled()->set_target_uri(d["destinationUri"]);
      (*e.mutable_scheduled()->mutable_blob_metadata())["programId"] = "1234";
      json out = one(e, "response.blob.copy.scheduled");
      EXPECT_EQ(out["sourceUri"], d["sourceUri"]);
      EXPECT_EQ(ResponseFor(WithoutEcho(e), &req).value()["data"]["sourceUri"], d["sourceUri"]);
      EXPECT_EQ(out["destinationUri"], d["destinationUri"]);
      EXPECT_EQ(out["blobMetadata"], json({{"programId", "1234"}}));
      v1::MediaEvent c = EventOf(r, type);
      c.mutable_storage()->set_kind(v1::StorageEvent::BLOB_CREATED);
      c.mutable_storage()->set_blob_uri(d["destinationUri"]);
      c.mutable_storage()->set_content_length(524288);
      c.mutable_storage()->set_content_type("video/mp4");
      c.mutable_storage()->set_etag("0x1");
      json created = one(c, "response.blob.created.success");
      EXPECT_EQ(created["blobUri"], d["destinationUri"]);
      EXPECT_EQ(created["contentLength"], 524288);
      EXPECT_EQ(created["contentType"], "video/mp4");
      EXPECT_EQ(created["eTag"], "0x1");
      break;
    }
    case v1::DELETE_BLOB: {
      v1::MediaEvent e = EventOf(r, type);
      e.mutable_scheduled()->set_target_uri(d["blobUri"]);
      (*e.mutable_scheduled()->mutable_blob_metadata())["a"] = "b";
      json out = one(e, "response.blob.delete.scheduled");
      EXPECT_EQ(out["blobUri"], d["blobUri"]);
      EXPECT_EQ(out["blobMetadata"], json({{"a", "b"}}));
      v1::MediaEvent g = EventOf(r, type);
      g.mutable_storage()->set_kind(v1::StorageEvent::BLOB_DELETED);
      g.mutable_storage()->set_blob_uri(d["blobUri"]);
      json gone = one(g, "response.blob.delete.success");
      EXPECT_EQ(gone["blobUri"], d["blobUri"]);
      break;
    }
    case v1::CREATE_SAS_URL: {
      v1::MediaEvent e = EventOf(r, type);
      std::string url = "http://127.0.0.1:1/devstoreaccount1/media/input/clip.mp4?sv=2021-08-06&sig=x";
      e.mutable_succeeded()->set_sas_url(url);
      json out = one(e, "response.blob.sas-url.success");
      EXPECT_EQ(out["sasUrl"], url);
      break;
    }
    case v1::CHANGE_BLOB_TIER: {
      v1::MediaEvent e = EventOf(r, type);
      e.mutable_succeeded()->set_target_uri(d["blobUri"]);
      e.mutable_succeeded()->mutable_blob()->set_access_tier(v1::COOL);
      json out = one(e, "response.blob.tier.success");
      EXPECT_EQ(out["blobUri"], d["blobUri"]);
      EXPECT_EQ(out["accessTier"], d["accessTier"]);
      EXPECT_EQ(out["rehydratePriority"], d["rehydratePriority"]);
      EXPECT_EQ(ResponseFor(WithoutEcho(e), &req).value()["data"]["rehydratePriority"], d["rehydratePriority"]);
      // High, and Standard when the request leaves the priority out.
      v1::ChangeBlobTierRequest high = r.change_blob_tier();
      high.set_rehydrate_priority(v1::HIGH);
      *e.mutable_echo() = media::EchoOf(high);
      EXPECT_EQ(one(e, "response.blob.tier.success")["rehydratePriority"], "High");
      high.clear_rehydrate_priority();
      *e.mutable_echo() = media::EchoOf(high);
      EXPECT_EQ(one(e, "response.blob.tier.success")["rehydratePriority"], "Standard");
      // An archived blob asked back to Hot is still Archive while it is
      // rehydrated: the response repeats the tier asked for.
      v1::ChangeBlobTierRequest back = r.change_blob_tier();
      back.set_access_tier(v1::HOT);
      *e.mutable_echo() = media::EchoOf(back);
      e.mutable_succeeded()->mutable_blob()->set_access_tier(v1::ARCHIVE);
      EXPECT_EQ(one(e, "response.blob.tier.success")["accessTier"], "Hot");
      break;
    }
    case v1::CREATE_CONTAINER:
    case v1::DELETE_CONTAINER:
    case v1::CHANGE_CONTAINER_ACCESS: {
      v1::MediaEvent e = EventOf(r, type);
      e.mutable_succeeded()->set_target_uri(
          absl::StrCat("https://", d["storageAccountName"].get<std::string>(), ".blob.core.windows.net/",
                       d["containerName"].get<std::string>(), "/"));
      std::string want = type == v1::CREATE_CONTAINER   ? "response.blob.container.create.success"
                         : type == v1::DELETE_CONTAINER ? "response.blob.container.delete.success"
                                                        : "response.blob.container.access.change.success";
      json out = one(e, want);
      EXPECT_EQ(out["storageAccountName"], d["storageAccountName"]);
      EXPECT_EQ(out["containerName"], d["containerName"]);
      if (type == v1::CHANGE_CONTAINER_ACCESS) {
        EXPECT_EQ(out["accessType"], d["accessType"]);
        EXPECT_EQ(ResponseFor(WithoutEcho(e), &req).value()["data"]["accessType"], d["accessType"]);
        for (auto [level, word] : std::vector<std::pair<v1::ContainerAccess, std::string>>{
                 {v1::PRIVATE, "None"}, {v1::BLOB, "Blob"}, {v1::BLOB_CONTAINER, "BlobContainer"}}) {
          e.mutable_echo()->set_access(level);
          EXPECT_EQ(one(e, want)["accessType"], word);
        }
      }
      // Without the request (gateway restarted), names come from the URI.
      auto bare = ResponseFor(e, nullptr);
      ASSERT_TRUE(bare.has_value());
      EXPECT_EQ((*bare)["data"]["storageAccountName"], d["storageAccountName"]);
      EXPECT_EQ((*bare)["data"]["containerName"], d["containerName"]);
      break;
    }
    case v1::ROLL_STORAGE_KEY: {
      v1::MediaEvent e = EventOf(r, type);
      e.mutable_succeeded()->set_target_uri(
          absl::StrCat("https://", d["account"].get<std::string>(), ".blob.core.windows.net/"));
      json out = one(e, "response.rollkey.storage.success");
      EXPECT_EQ(out["account"], d["account"]);
      EXPECT_EQ(out["keyName"], d["keyName"]);
      EXPECT_EQ(ResponseFor(WithoutEcho(e), &req).value()["data"]["keyName"], d["keyName"]);
      break;
    }
    case v1::ENCODE_FLIP:
    case v1::ENCODE_CLOUDPORT: {
      std::string enc = type == v1::ENCODE_FLIP ? "flip" : "cloudport";
      json ectx = {{"jobId", "job-1"}, {"attempt", 1}};
      auto ev = [&](v1::EncodeState s) {
        v1::MediaEvent e = EventOf(r, type);
        e.mutable_encode()->set_state(s);
        e.mutable_encode()->set_workflow_job_name("job-1");
        *e.mutable_encode()->mutable_encoder_context() = *JsonToStruct(ectx, "c");
        return e;
      };
      for (auto [state, word] : std::vector<std::pair<v1::EncodeState, std::string>>{
               {v1::DISPATCHED, "dispatched"}, {v1::ENCODE_SCHEDULED, "scheduled"}, {v1::ENCODE_CANCELED, "canceled"}}) {
        json out = one(ev(state), absl::StrCat("response.encode.", enc, ".", word));
        EXPECT_EQ(out["encoderContext"], ectx);
        EXPECT_EQ(out["workflowJobName"], "job-1");
        EXPECT_FALSE(out.contains("percentComplete"));
      }
      v1::MediaEvent p = ev(v1::PROCESSING);
      p.mutable_encode()->set_percent_complete(42);
      p.mutable_encode()->set_current_status("frame=120 speed=2.1x");
      json prog = one(p, absl::StrCat("response.encode.", enc, ".processing"));
      EXPECT_EQ(prog["percentComplete"], 42);
      EXPECT_EQ(prog["currentStatus"], "frame=120 speed=2.1x");
      EXPECT_EQ(prog["encoderContext"], ectx);
      v1::MediaEvent s = ev(v1::SUCCESS);
      std::string out_uri = absl::StrCat(d["outputContainer"].get<std::string>(), "clip-h264.mp4");
      s.mutable_encode()->add_output_uris(out_uri);
      json ok = one(s, absl::StrCat("response.encode.", enc, ".success"));
      EXPECT_EQ(ok["outputs"], json::array({{{"blobUri", out_uri}}}));
      EXPECT_EQ(ok["workflowJobName"], "job-1");
      // The FAILURE state itself goes out as response.failure (the Failure
      // event); the progress record of it has no wire form.
      EXPECT_FALSE(ResponseFor(ev(v1::FAILURE), nullptr).has_value());
      break;
    }
    default: FAIL() << "no response check for " << req.event_type;
  }
}

TEST(EventGridGolden, EveryFixtureDecodesAndAnswers) {
  std::set<std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator(FixtureDir())) {
    std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    auto batch = LoadFixture(name);
    ASSERT_EQ(batch.size(), 1u);
    const EventGridEvent& e = batch[0];
    json raw = json::parse(ReadFile(entry.path()))[0];
    // Envelope fields.
    EXPECT_EQ(e.id, raw["id"]);
    EXPECT_EQ(e.topic, raw["topic"]);
    EXPECT_EQ(e.subject, raw["subject"]);
    EXPECT_EQ(e.event_type, raw["eventType"]);
    EXPECT_EQ(e.event_time, raw["eventTime"]);
    EXPECT_EQ(e.data_version, raw["dataVersion"]);
    EXPECT_EQ(e.data, raw["data"]);
    seen.insert(e.event_type);
    if (e.event_type == "Microsoft.EventGrid.SubscriptionValidationEvent") {
      auto v = ValidationResponse(batch);
      ASSERT_TRUE(v.has_value());
      EXPECT_EQ(*v, json({{"validationResponse", raw["data"]["validationCode"]}}));
      continue;
    }
    EXPECT_FALSE(ValidationResponse(batch).has_value());
    auto r = DecodeMediaRequest(e);
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectDecodedMatches(e, *r);
    if (absl::StartsWith(e.event_type, "Microsoft.Storage.")) {
      // A storage event on its own: its response carries the context that
      // came back in clientRequestId.
      v1::MediaEvent me;
      *me.mutable_storage() = r->report_storage_event().event();
      *me.mutable_operation_context() = OperationContextOf(*r);
      auto out = ResponseFor(me, nullptr);
      ASSERT_TRUE(out.has_value());
      ExpectEnvelope(*out, "response.blob.created.success");
      ExpectSuccessSubject(*out);
      EXPECT_EQ((*out)["data"]["operationContext"], json::parse(raw["data"]["clientRequestId"].get<std::string>()));
      EXPECT_EQ((*out)["data"]["blobUri"], raw["data"]["url"]);
      EXPECT_EQ((*out)["data"]["contentLength"], raw["data"]["contentLength"]);
      EXPECT_EQ((*out)["data"]["eTag"], raw["data"]["eTag"]);
      EXPECT_EQ((*out)["data"]["contentType"], raw["data"]["contentType"]);
      continue;
    }
    ExpectResponsesMatch(e, *r);
  }
  // Every request type of docs/wire-formats.md section 4 has a fixture.
  for (const char* t : {"request.blob.metadata.create", "request.blob.analysis.create", "request.blob.copy",
                        "request.blob.delete", "request.blob.sas-url.create", "request.blob.tier.change",
                        "request.blob.container.create", "request.blob.container.delete",
                        "request.blob.container.access.change", "request.encode.flip.create",
                        "request.encode.cloudport.create", "request.rollkey.storage"}) {
    EXPECT_EQ(seen.count(t), 1u) << t;
  }
  EXPECT_GE(seen.size(), 14u);
}

// ---- Bad input, one test per rule ----

absl::StatusOr<v1::MediaRequest> DecodeWith(const std::string& fixture, const std::function<void(json&)>& edit) {
  auto batch = LoadFixture(fixture);
  EXPECT_EQ(batch.size(), 1u);
  EventGridEvent e = batch.at(0);
  edit(e.data);
  return DecodeMediaRequest(e);
}

void ExpectInvalid(const absl::StatusOr<v1::MediaRequest>& r, const std::string& field) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), field)) << r.status() << " should name " << field;
}

TEST(EventGridBadInput, BodyMustBeAnArray) {
  for (const char* body : {"{}", "\"x\"", "42", "null"}) {
    auto b = ParseEventGridBatch(body);
    ASSERT_FALSE(b.ok()) << body;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(b.status().message(), "array")) << b.status();
  }
  EXPECT_TRUE(ParseEventGridBatch("[]").ok());
}

TEST(EventGridBadInput, InvalidJsonIsRejected) {
  for (const char* body : {"", "[", "[{\"id\":}]", "[1,]", "[\"\xff\"]"}) {
    auto b = ParseEventGridBatch(body);
    ASSERT_FALSE(b.ok()) << body;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(EventGridBadInput, BodyOverOneMegabyte) {
  std::string body = "[" + std::string(kMaxEventGridBody, ' ') + "]";
  auto b = ParseEventGridBatch(body);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(b.status().message(), "1 MB")) << b.status();
}

TEST(EventGridBadInput, EnvelopeFieldsNamedWithIndex) {
  auto b = ParseEventGridBatch(R"([{"id":"a","eventType":"request.blob.delete","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"","data":{}}, {"eventType":"x","data":{}}])");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::StrContains(b.status().message(), "[1].id")) << b.status();
  b = ParseEventGridBatch(R"([{"id":"a","data":{}}])");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::StrContains(b.status().message(), "[0].eventType")) << b.status();
  b = ParseEventGridBatch(R"([{"id":"a","eventType":"request.blob.delete","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"","data":[1]}])");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::StrContains(b.status().message(), "[0].data")) << b.status();
  b = ParseEventGridBatch(R"([5])");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::StrContains(b.status().message(), "[0]")) << b.status();
}

// The Event Grid schema requires subject, eventTime and dataVersion; each
// missing or mistyped one is refused naming the event's index and the field.
TEST(EventGridBadInput, RequiredEnvelopeFieldsAreNamedWithIndex) {
  json good = json::parse(R"({"id":"a","eventType":"request.blob.delete","subject":"/s",
      "eventTime":"2026-11-22T10:00:00.9584103Z","dataVersion":"1.0","data":{}})");
  ASSERT_TRUE(ParseEventGridBatch(json::array({good}).dump()).ok());
  struct Case {
    const char* field;
    json value;  // null: the key is removed
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"subject", nullptr, "[3].subject: required"},
      {"subject", 5, "[3].subject: must be a string, got number"},
      {"eventTime", nullptr, "[3].eventTime: required"},
      {"eventTime", json::array(), "[3].eventTime: must be a string, got array"},
      {"eventTime", "yesterday", "[3].eventTime: must be an RFC 3339 date-time"},
      {"eventTime", "", "[3].eventTime: must not be empty"},
      {"dataVersion", nullptr, "[3].dataVersion: required"},
      {"dataVersion", 1.0, "[3].dataVersion: must be a string, got number"},
      {"topic", 7, "[3].topic: must be a string, got number"},
      {"metadataVersion", json::object(), "[3].metadataVersion: must be a string, got object"},
  };
  for (const Case& c : cases) {
    json bad = good;
    if (c.value.is_null()) {
      bad.erase(c.field);
    } else {
      bad[c.field] = c.value;
    }
    auto b = ParseEventGridBatch(json::array({good, good, good, bad}).dump());
    ASSERT_FALSE(b.ok()) << c.expected;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(b.status().message(), c.expected)) << b.status() << " should say " << c.expected;
  }
  // Empty subject and dataVersion are allowed (the validation event's subject is "").
  json empty = good;
  empty["subject"] = "";
  empty["dataVersion"] = "";
  EXPECT_TRUE(ParseEventGridBatch(json::array({empty}).dump()).ok());
}

TEST(EventGridBadInput, DuplicateKeysAreRefusedNamingThem) {
  auto b = ParseEventGridBatch(
      R"([{"id":"a","eventType":"request.blob.delete","subject":"/s","eventTime":"2026-11-22T10:00:00Z",)"
      R"("dataVersion":"1.0","data":{"blobUri":"https://x/c/a","blobUri":"https://x/c/b"}}])");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(b.status().message(), "[0].data.blobUri: duplicate key")) << b.status();
  b = ParseEventGridBatch(R"([{"id":"a","id":"b","eventType":"x","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"","data":{}}])");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::StrContains(b.status().message(), "[0].id: duplicate key")) << b.status();
}

TEST(EventGridBadInput, AnyDataVersionIsAccepted) {
  auto b = ParseEventGridBatch(
      R"([{"id":"a","eventType":"request.blob.delete","subject":"/s","eventTime":"2026-11-22T10:00:00Z","dataVersion":"7.3-beta","data":{"blobUri":"https://devstoreaccount1.blob.core.windows.net/c/b"}}])");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(DecodeMediaRequest((*b)[0]).ok());
}

TEST(EventGridBadInput, UnknownEventTypeIsNotFoundAndAnsweredWithFailure) {
  auto batch = LoadFixture("request.blob.delete.json");
  EventGridEvent e = batch.at(0);
  e.event_type = "request.blob.teleport";
  auto r = DecodeMediaRequest(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "request.blob.teleport"));
  google::protobuf::Struct ctx = *JsonToStruct(e.data["operationContext"], "c");
  json f = RequestFailureEvent(e, ctx, kLogRequestUnknownType, r.status().message(), "EventGridRequestHandler");
  ExpectEnvelope(f, "response.failure");
  EXPECT_EQ(f["subject"], absl::StrCat("gridwichFailure/EventGridRequestHandler/", kLogRequestUnknownType));
  EXPECT_EQ(f["data"]["logEventId"], kLogRequestUnknownType);
  EXPECT_EQ(f["data"]["operationContext"], e.data["operationContext"]);
  EXPECT_TRUE(IsGuid(f["data"]["logRecordId"]));
  EXPECT_TRUE(IsGuid(f["data"]["handlerId"]));
  EXPECT_EQ(f["data"]["eventHandlerClassName"], "EventGridRequestHandler");
}

TEST(EventGridBadInput, RollKeyFailureHasNoContext) {
  auto batch = LoadFixture("request.rollkey.storage.json");
  json f = RequestFailureEvent(batch.at(0), {}, kLogRequestInvalid, "keyName: must be key1 or key2", "X");
  ExpectEnvelope(f, "response.rollkey.storage.failure");
  EXPECT_EQ(f["data"]["account"], "devstoreaccount1");
  EXPECT_EQ(f["data"]["keyName"], "key1");
  EXPECT_EQ(f["data"]["error"], "keyName: must be key1 or key2");
  EXPECT_FALSE(f["data"].contains("operationContext"));
}

TEST(EventGridBadInput, MissingRequiredFieldsAreNamed) {
  struct Case {
    const char* fixture;
    const char* key;
  };
  for (const Case& c : std::vector<Case>{{"request.blob.metadata.create.json", "blobUri"},
                                         {"request.blob.metadata.create.json", "blobMetadata"},
                                         {"request.blob.analysis.create.json", "blobUri"},
                                         {"request.blob.copy.json", "sourceUri"},
                                         {"request.blob.copy.json", "destinationUri"},
                                         {"request.blob.delete.json", "blobUri"},
                                         {"request.blob.sas-url.create.json", "secToLive"},
                                         {"request.blob.tier.change.json", "accessTier"},
                                         {"request.blob.container.create.json", "containerName"},
                                         {"request.blob.container.delete.json", "storageAccountName"},
                                         {"request.blob.container.access.change.json", "accessType"},
                                         {"request.rollkey.storage.json", "keyName"},
                                         {"request.rollkey.storage.json", "account"},
                                         {"request.encode.flip.create.json", "inputs"},
                                         {"request.encode.flip.create.json", "outputContainer"},
                                         {"request.encode.flip.create.json", "profiles"},
                                         {"request.encode.cloudport.create.json", "workflowName"},
                                         {"request.encode.cloudport.create.json", "secToLive"},
                                         {"microsoft.storage.blobcreated.json", "url"}}) {
    SCOPED_TRACE(std::string(c.fixture) + " " + c.key);
    ExpectInvalid(DecodeWith(c.fixture, [&](json& d) { d.erase(c.key); }), std::string("data.") + c.key);
  }
}

TEST(EventGridBadInput, WrongTypesAreNamed) {
  ExpectInvalid(DecodeWith("request.blob.delete.json", [](json& d) { d["blobUri"] = 5; }), "data.blobUri");
  ExpectInvalid(DecodeWith("request.blob.sas-url.create.json", [](json& d) { d["secToLive"] = "1200"; }),
                "data.secToLive");
  ExpectInvalid(DecodeWith("request.blob.sas-url.create.json", [](json& d) { d["secToLive"] = 1.5; }),
                "data.secToLive");
  ExpectInvalid(DecodeWith("request.blob.metadata.create.json", [](json& d) { d["blobMetadata"] = json::array(); }),
                "data.blobMetadata");
  ExpectInvalid(DecodeWith("request.blob.metadata.create.json", [](json& d) { d["blobMetadata"]["title"] = 3; }),
                "data.blobMetadata.title");
  ExpectInvalid(DecodeWith("request.blob.delete.json", [](json& d) { d["operationContext"] = "ctx"; }),
                "data.operationContext");
  ExpectInvalid(DecodeWith("request.blob.analysis.create.json",
                           [](json& d) { d["analyzerSpecificData"]["mediaInfo"]["commandLineOptions"] = 1; }),
                "commandLineOptions");
  ExpectInvalid(DecodeWith("request.encode.flip.create.json", [](json& d) { d["inputs"] = json::array(); }),
                "data.inputs");
  ExpectInvalid(DecodeWith("request.encode.flip.create.json", [](json& d) { d["inputs"][0] = "x"; }),
                "data.inputs[0]");
  ExpectInvalid(DecodeWith("request.encode.flip.create.json", [](json& d) { d["inputs"][0].erase("blobUri"); }),
                "data.inputs[0].blobUri");
  ExpectInvalid(DecodeWith("request.encode.cloudport.create.json", [](json& d) { d["parameters"] = json::object(); }),
                "data.parameters");
  ExpectInvalid(DecodeWith("request.encode.cloudport.create.json", [](json& d) { d["parameters"][0] = 7; }),
                "data.parameters[0]");
}

TEST(EventGridBadInput, UnknownEnumWordsAreNamed) {
  ExpectInvalid(DecodeWith("request.blob.tier.change.json", [](json& d) { d["accessTier"] = "Lukewarm"; }),
                "data.accessTier");
  ExpectInvalid(DecodeWith("request.blob.tier.change.json", [](json& d) { d["accessTier"] = "cool"; }),
                "data.accessTier");
  ExpectInvalid(DecodeWith("request.blob.tier.change.json", [](json& d) { d["rehydratePriority"] = "Urgent"; }),
                "data.rehydratePriority");
  ExpectInvalid(DecodeWith("request.blob.container.access.change.json", [](json& d) { d["accessType"] = "Public"; }),
                "data.accessType");
  // Each known word maps.
  for (auto [word, tier] : std::vector<std::pair<std::string, v1::AccessTier>>{
           {"Hot", v1::HOT}, {"Cool", v1::COOL}, {"Cold", v1::COLD}, {"Archive", v1::ARCHIVE}}) {
    auto r = DecodeWith("request.blob.tier.change.json", [&](json& d) { d["accessTier"] = word; });
    ASSERT_TRUE(r.ok()) << word;
    EXPECT_EQ(r->change_blob_tier().access_tier(), tier);
  }
  auto hi = DecodeWith("request.blob.tier.change.json", [](json& d) { d["rehydratePriority"] = "High"; });
  ASSERT_TRUE(hi.ok());
  EXPECT_EQ(hi->change_blob_tier().rehydrate_priority(), v1::HIGH);
  for (auto [word, acc] : std::vector<std::pair<std::string, v1::ContainerAccess>>{
           {"Blob", v1::BLOB}, {"BlobContainer", v1::BLOB_CONTAINER}, {"None", v1::PRIVATE}}) {
    auto r = DecodeWith("request.blob.container.access.change.json", [&](json& d) { d["accessType"] = word; });
    ASSERT_TRUE(r.ok()) << word;
    EXPECT_EQ(r->change_container_access().access(), acc);
  }
}

TEST(EventGridBadInput, RollKeyIgnoresOperationContext) {
  auto r = DecodeWith("request.rollkey.storage.json", [](json& d) { d["operationContext"] = "not even an object"; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(OperationContextOf(*r).fields().empty());
}

TEST(EventGridBadInput, StorageEventWithoutJsonClientRequestIdHasNoContext) {
  auto r = DecodeWith("microsoft.storage.blobcreated.json", [](json& d) {
    d["clientRequestId"] = "plain-id";
    d["contentLength"] = "big";
    d["eTag"] = 12;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(OperationContextOf(*r).fields().empty());
  const auto& ev = r->report_storage_event().event();
  EXPECT_EQ(ev.client_request_id(), "plain-id");
  EXPECT_EQ(ev.content_length(), 0);
  EXPECT_EQ(ev.etag(), "");
}

TEST(EventGridBadInput, ValidationEventWithoutCodeAnswersEmpty) {
  auto b = ParseEventGridBatch(R"([{"id":"a","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","subject":"","eventTime":"2026-11-22T10:00:00Z","dataVersion":"1","data":{"validationCode":5}}])");
  ASSERT_TRUE(b.ok());
  auto v = ValidationResponse(*b);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, json({{"validationResponse", ""}}));
}

TEST(EventGridCodec, FinalEvents) {
  v1::MediaEvent e;
  e.set_acknowledged(v1::COPY_BLOB);
  EXPECT_FALSE(IsFinalEvent(e));
  e.mutable_scheduled()->set_name("operations/x");
  EXPECT_FALSE(IsFinalEvent(e));
  e.mutable_storage()->set_kind(v1::StorageEvent::BLOB_CREATED);
  EXPECT_TRUE(IsFinalEvent(e));
  e.mutable_succeeded();
  EXPECT_TRUE(IsFinalEvent(e));
  e.mutable_failure();
  EXPECT_TRUE(IsFinalEvent(e));
  for (auto [s, final] : std::vector<std::pair<v1::EncodeState, bool>>{{v1::DISPATCHED, false},
                                                                       {v1::ENCODE_SCHEDULED, false},
                                                                       {v1::PROCESSING, false},
                                                                       {v1::SUCCESS, true},
                                                                       {v1::ENCODE_CANCELED, true},
                                                                       {v1::FAILURE, true}}) {
    e.mutable_encode()->set_state(s);
    EXPECT_EQ(IsFinalEvent(e), final) << v1::EncodeState_Name(s);
  }
}

TEST(EventGridBadInput, DeepOperationContextIsRejected) {
  json deep = json::object();
  for (int i = 0; i < 100; ++i) deep = json{{"x", deep}};
  ExpectInvalid(DecodeWith("request.blob.delete.json", [&](json& d) { d["operationContext"] = deep; }),
                "data.operationContext");
}

}  // namespace
}  // namespace switchboard::wire
