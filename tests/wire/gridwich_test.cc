// The Gridwich table (wire/gridwich.h): every operation is complete and
// consistent, names are unique, and the encoder (ResponseEventFor) and the
// one failure builder use it.
#include "wire/gridwich.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "wire/eventgrid.h"

namespace switchboard::wire {
namespace {

bool IsGuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

TEST(GridwichTable, EveryOperationHasItsNamesIdsAndHandler) {
  const auto& ops = GridwichOperations();
  // Every OperationType but UNSPECIFIED, once each.
  ASSERT_EQ(ops.size(), static_cast<size_t>(v1::OperationType_MAX));
  std::set<v1::OperationType> types;
  std::set<std::string> requests, successes;
  for (const GridwichOperation& op : ops) {
    const std::string name = v1::OperationType_Name(op.type);
    EXPECT_TRUE(types.insert(op.type).second) << name << " twice";
    EXPECT_NE(op.type, v1::OPERATION_TYPE_UNSPECIFIED);
    EXPECT_TRUE(absl::StartsWith(op.request_event_type, "request.")) << name;
    EXPECT_TRUE(requests.insert(op.request_event_type).second) << op.request_event_type << " twice";
    EXPECT_EQ(OperationFor(op.type), &op) << name;
    EXPECT_EQ(OperationForRequest(op.request_event_type), &op) << name;
    EXPECT_EQ(RequestEventType(op.type), op.request_event_type) << name;
    // The request message exists, and is the oneof case's message when
    // SubmitBatch takes it.
    const auto* message = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(op.request_message);
    ASSERT_NE(message, nullptr) << op.request_message;
    if (op.batch_case != v1::MediaRequest::REQUEST_NOT_SET) {
      const auto* field = v1::MediaRequest::descriptor()->FindFieldByNumber(op.batch_case);
      ASSERT_NE(field, nullptr) << name;
      EXPECT_EQ(field->message_type(), message) << name;
    } else {
      EXPECT_TRUE(op.type == v1::ENCODE_FLIP || op.type == v1::ENCODE_CLOUDPORT) << name << " is not in SubmitBatch";
    }
    // Responses.
    EXPECT_TRUE(absl::StartsWith(op.success_event_type, "response.")) << name;
    EXPECT_TRUE(absl::EndsWith(op.success_event_type, ".success")) << name;
    EXPECT_TRUE(successes.insert(op.success_event_type).second) << op.success_event_type << " twice";
    for (const char* p : op.progress_event_types) EXPECT_TRUE(absl::StartsWith(p, "response.")) << name << ": " << p;
    EXPECT_EQ(op.acknowledged, op.type != v1::ROLL_STORAGE_KEY) << name;
    EXPECT_EQ(std::string(op.failure_event_type),
              op.type == v1::ROLL_STORAGE_KEY ? "response.rollkey.storage.failure" : kFailureEventType);
    // Handler, handlerId, logEventIds.
    EXPECT_TRUE(absl::EndsWith(op.handler, "Handler")) << name << ": " << op.handler;
    EXPECT_EQ(HandlerFor(op.request_event_type), std::string(op.handler));
    EXPECT_TRUE(IsGuid(HandlerId(op.handler))) << name;
    ASSERT_FALSE(op.log_events.empty()) << name;
    for (const LogEvent& id : op.log_events) {
      EXPECT_EQ(std::string(id.handler), op.handler) << name << ": " << id.name;
      EXPECT_EQ(id.id / 100000, 3) << name << ": " << id.name << " is an error";
    }
  }
  EXPECT_EQ(OperationFor(v1::OPERATION_TYPE_UNSPECIFIED), nullptr);
  EXPECT_EQ(OperationForRequest("request.blob.teleport"), nullptr);
  EXPECT_EQ(std::string(HandlerFor("request.blob.teleport")), log_events::kRequestInvalid.handler);
  EXPECT_EQ(std::string(HandlerFor("Microsoft.Storage.BlobCreated")), log_events::kRequestInvalid.handler);
}

TEST(GridwichTable, LogEventIdsAreUniqueAndEveryOneIsReported) {
  std::set<int> ids;
  std::set<std::string> names;
  std::map<int, const char*> in_table;
  for (const LogEvent& e : AllLogEvents()) {
    EXPECT_TRUE(ids.insert(e.id).second) << "duplicate logEventId " << e.id;
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate name " << e.name;
    EXPECT_GE(e.id % 1000, 1) << e.name;
    EXPECT_GE(e.id / 100000, 1) << e.name;
    EXPECT_LE(e.id / 100000, 4) << e.name;
  }
  // Every operation's ids are in AllLogEvents; those of no operation are
  // the request decoder's, the resumer's and CancelEncode's.
  std::set<int> of_operations;
  for (const auto& op : GridwichOperations()) {
    for (const LogEvent& e : op.log_events) {
      EXPECT_TRUE(ids.count(e.id)) << e.name;
      of_operations.insert(e.id);
    }
  }
  std::set<int> rest;
  for (int id : ids) {
    if (!of_operations.count(id)) rest.insert(id);
  }
  EXPECT_EQ(rest, (std::set<int>{log_events::kRequestInvalid.id, log_events::kRequestUnknownType.id,
                                 log_events::kResumeFailed.id, log_events::kEncodeCancelFailed.id}));
  EXPECT_EQ(kLogRequestInvalid, 230001);
  EXPECT_EQ(kLogRequestUnknownType, 230002);
}

TEST(GridwichTable, HandlerIdIsStableAndNamesItsHandler) {
  EXPECT_EQ(HandlerId("BlobCopyHandler"), HandlerId("BlobCopyHandler"));
  EXPECT_NE(HandlerId("BlobCopyHandler"), HandlerId("BlobDeleteHandler"));
  std::set<std::string> handler_ids;
  std::set<std::string> handlers;
  for (const LogEvent& e : AllLogEvents()) handlers.insert(e.handler);
  for (const std::string& h : handlers) {
    std::string id = HandlerId(h);
    EXPECT_TRUE(IsGuid(id)) << h;
    EXPECT_EQ(id[14], '4') << h << ": version-4-shaped";
    EXPECT_TRUE(handler_ids.insert(id).second) << h;
  }
}

// switchboardd's failure record and the gateway's refusal name the same
// handlerId for the same handler: one derivation.
TEST(GridwichTable, OneFailureBuilderOneHandlerId) {
  v1::Failure f = MakeFailure(log_events::kCopyFailed, absl::NotFoundError("blob_uri: no such blob"));
  EXPECT_EQ(f.log_event_id(), 312001);
  EXPECT_EQ(f.event_handler_class_name(), "BlobCopyHandler");
  EXPECT_EQ(f.handler_id(), HandlerId("BlobCopyHandler"));
  EXPECT_EQ(f.code(), "NOT_FOUND");
  EXPECT_TRUE(IsGuid(f.log_record_id()));
  EXPECT_NE(f.log_record_id(), MakeFailure(log_events::kCopyFailed, absl::NotFoundError("x")).log_record_id());

  EventGridEvent request;
  request.id = "r1";
  request.subject = "/requests/r1";
  request.event_type = "request.blob.copy";
  request.data = {{"operationContext", {{"prodID", 7}}}};
  EventGridEvent refused =
      RequestFailure(request, RawOperationContext(request), kLogRequestInvalid, "sourceUri: required",
                     HandlerFor(request.event_type));
  EXPECT_EQ(refused.event_type, kFailureEventType);
  EXPECT_EQ(refused.subject, "gridwichFailure/BlobCopyHandler/230001");
  EXPECT_EQ(refused.data["handlerId"], HandlerId("BlobCopyHandler"));
  EXPECT_EQ(refused.data["operationContext"], nlohmann::json({{"prodID", 7}}));
  EXPECT_EQ(refused.data["logEventMessage"], "sourceUri: required");

  v1::MediaEvent e;
  e.set_operation_type(v1::COPY_BLOB);
  *e.mutable_failure() = f;
  auto recorded = ResponseEventFor(e, nullptr);
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(recorded->data["handlerId"], refused.data["handlerId"]);
  EXPECT_EQ(recorded->subject, "gridwichFailure/BlobCopyHandler/312001");
}

// Every response eventType the encoder writes for an operation is one the
// table lists for it.
TEST(GridwichTable, TheEncoderWritesTheTablesEventTypes) {
  for (const GridwichOperation& op : GridwichOperations()) {
    std::set<std::string> listed = {op.success_event_type, op.failure_event_type, kAcknowledgeEventType};
    for (const char* p : op.progress_event_types) listed.insert(p);
    std::vector<v1::MediaEvent> events;
    v1::MediaEvent base;
    base.set_operation_type(op.type);
    base.set_operation("mediaOperations/x");
    events.push_back(base);
    events.back().set_acknowledged(op.type);
    events.push_back(base);
    events.back().mutable_succeeded()->set_target_uri("https://devstoreaccount1.blob.core.windows.net/c/b");
    events.push_back(base);
    events.back().mutable_scheduled()->set_target_uri("https://devstoreaccount1.blob.core.windows.net/c/b");
    events.push_back(base);
    *events.back().mutable_failure() = MakeFailure(op.log_events.front(), absl::InternalError("x"));
    for (v1::EncodeState s : {v1::DISPATCHED, v1::ENCODE_SCHEDULED, v1::PROCESSING, v1::SUCCESS, v1::ENCODE_CANCELED}) {
      events.push_back(base);
      events.back().mutable_encode()->set_state(s);
    }
    if (op.type == v1::COPY_BLOB || op.type == v1::DELETE_BLOB) {
      events.push_back(base);
      events.back().mutable_storage()->set_kind(op.type == v1::COPY_BLOB ? v1::StorageEvent::BLOB_CREATED
                                                                          : v1::StorageEvent::BLOB_DELETED);
    }
    std::set<std::string> written;
    for (const auto& e : events) {
      // Encode progress only for encodes, scheduled only for copies and deletes.
      if (e.has_encode() && op.progress_event_types.size() != 4) continue;
      auto out = ResponseEventFor(e, nullptr);
      if (!out) continue;
      EXPECT_TRUE(listed.count(out->event_type)) << v1::OperationType_Name(op.type) << " wrote " << out->event_type;
      written.insert(out->event_type);
    }
    // And it writes each of them: the table lists nothing it never sends.
    for (const std::string& t : listed) {
      if (t == kAcknowledgeEventType && !op.acknowledged) continue;
      EXPECT_TRUE(written.count(t)) << v1::OperationType_Name(op.type) << " never wrote " << t;
    }
  }
}

}  // namespace
}  // namespace switchboard::wire
