// The rules every RPC passes through (server/rpc/guard.cc with
// server/rpc/method_rules.cc), checked for every method the protos declare:
// roles (and docs/api.md's role table), request_id, undecodable bytes,
// Timestamps out of range, long inputs in errors.

#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/generic/generic_stub.h>

#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/status.h"
#include "server/rpc/method_rules.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "switchboard/v1/notification.pb.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using google::protobuf::MethodDescriptor;
using testing::Envelope;
using testing::TempDir;
using testing::TestServer;

const char* kServices[] = {"switchboard.v1.ResourcingService", "switchboard.v1.MediaService",
                           "switchboard.v1.NotificationService", "switchboard.v1.CursorService"};

// Every method of every switchboard.v1 service, from the descriptors.
std::vector<const MethodDescriptor*> AllMethods() {
  (void)v1::PublishRequest::descriptor();
  (void)rpc::FindMethod("/switchboard.v1.CursorService/GetCursor");  // loads every file
  std::vector<const MethodDescriptor*> out;
  for (const char* name : kServices) {
    const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    EXPECT_NE(service, nullptr) << name;
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) out.push_back(service->method(i));
  }
  return out;
}

std::string ShortName(const MethodDescriptor* m) { return absl::StrCat(m->service()->name(), ".", m->name()); }
std::string GrpcPath(const MethodDescriptor* m) { return absl::StrCat("/", m->service()->full_name(), "/", m->name()); }

std::string WriteTokens(const TempDir& dir) {
  std::string path = dir.path() + "/tokens.json";
  std::ofstream(path) << R"({"tokens": [
    {"token": "reader-token", "principal": "rita", "roles": ["reader"]},
    {"token": "operator-token", "principal": "otto", "roles": ["operator"]},
    {"token": "admin-token", "principal": "ada", "roles": ["admin"]}]})";
  return path;
}

const char* TokenFor(Role r) {
  switch (r) {
    case Role::kReader: return "reader-token";
    case Role::kOperator: return "operator-token";
    case Role::kAdmin: return "admin-token";
  }
  return "";
}

// One call of any kind (unary, server or bidi stream) with raw request bytes:
// the final status. Streams that stay open end at the deadline.
grpc::Status RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& path,
                     const std::string& bytes, const std::string& token = "",
                     std::chrono::milliseconds deadline = std::chrono::milliseconds(3000)) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  auto call = stub.PrepareCall(&ctx, path, &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer out(&slice, 1);
  call->WriteLast(out, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer in;
  do {
    call->Read(&in, reinterpret_cast<void*>(3));
    cq.Next(&tag, &ok);
  } while (ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  return status;
}

// What docs/api.md's "Roles" table says, method -> role name.
std::map<std::string, std::string> DocumentedRoles() {
  std::ifstream in(std::string(SB_SOURCE_DIR) + "/docs/api.md");
  EXPECT_TRUE(in) << "docs/api.md not found under " << SB_SOURCE_DIR;
  std::map<std::string, std::string> out;
  std::string line;
  const std::regex row(R"(^\| `(\w+Service\.\w+)` \| (reader|operator|admin) \|)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) {
      EXPECT_TRUE(out.emplace(m[1], m[2]).second) << "docs/api.md lists " << m[1] << " twice";
    }
  }
  return out;
}

TEST(ApiRules, EveryMethodHasOneRuleAndTheDocsTableMatchesIt) {
  std::map<std::string, std::string> code;
  for (const auto& rule : rpc::MethodRules()) {
    EXPECT_TRUE(code.emplace(rule.method, RoleName(rule.role)).second) << rule.method << " has two rules";
  }
  std::set<std::string> declared;
  for (const MethodDescriptor* m : AllMethods()) {
    declared.insert(ShortName(m));
    EXPECT_TRUE(code.count(ShortName(m))) << ShortName(m) << " has no rule in server/rpc/method_rules.cc";
    const auto* rule = rpc::RuleForRequest(m->input_type());
    ASSERT_NE(rule, nullptr) << ShortName(m);
    EXPECT_EQ(RoleName(rule->role), code[ShortName(m)])
        << ShortName(m) << " shares its request type with a method of another role";
  }
  for (const auto& [method, role] : code) {
    EXPECT_TRUE(declared.count(method)) << method << " is in method_rules.cc but no proto declares it";
  }
  EXPECT_EQ(DocumentedRoles(), code) << "docs/api.md's Roles table and server/rpc/method_rules.cc disagree";
  EXPECT_EQ(code["NotificationService.PurgeDeadLetters"], "admin");
  EXPECT_EQ(code["NotificationService.DeleteSubscription"], "admin");
}

TEST(ApiRules, EveryRpcAsksForTheRoleOfItsRule) {
  TempDir dir;
  core::ServerConfig cfg;
  cfg.token_file = WriteTokens(dir);
  TestServer ts(dir.path() + "/data", cfg);
  auto channel = ts.Channel();
  std::map<std::string, Role> roles;
  for (const auto& rule : rpc::MethodRules()) roles[rule.method] = rule.role;
  for (const MethodDescriptor* m : AllMethods()) {
    const Role needed = roles.at(ShortName(m));
    if (needed != Role::kReader) {
      const Role below = static_cast<Role>(static_cast<int>(needed) - 1);
      grpc::Status s = RawCall(channel, GrpcPath(m), "", TokenFor(below));
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << ShortName(m) << " with role " << RoleName(below) << ": " << s.error_message();
    }
    // With the role it needs, the empty request gets past authorization
    // (then fails validation, or a watch runs until the deadline).
    grpc::Status s = RawCall(channel, GrpcPath(m), "", TokenFor(needed), std::chrono::milliseconds(300));
    EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << ShortName(m) << ": " << s.error_message();
    EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << ShortName(m) << ": " << s.error_message();
  }
}

TEST(ApiRules, EveryRequestWithARequestIdNeedsOne) {
  TempDir dir;
  TestServer ts(dir.path());
  auto channel = ts.Channel();
  int checked = 0;
  for (const MethodDescriptor* m : AllMethods()) {
    const auto* field = m->input_type()->FindFieldByName("request_id");
    if (field == nullptr) continue;
    const auto* rule = rpc::RuleForRequest(m->input_type());
    ASSERT_NE(rule, nullptr) << ShortName(m);
    if (rule->request_id_from_payload) continue;  // Publish: below
    ++checked;
    // Every other field set would not help: the request_id is checked first.
    grpc::Status s = RawCall(channel, GrpcPath(m), "");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << ShortName(m) << ": " << s.error_message();
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "request_id: required")) << ShortName(m) << ": "
                                                                             << s.error_message();
  }
  EXPECT_GE(checked, 20) << "the mutating RPCs of media, notification and resourcing";
  // Publish's key is the envelope's event_uuid.
  auto stub = ts.Notification();
  grpc::ClientContext ctx;
  v1::PublishRequest req;
  *req.mutable_envelope() = Envelope("uuid-as-request-id");
  v1::PublishResponse resp;
  grpc::Status s = stub->Publish(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// The five kinds of bytes the adversarial run sent.
TEST(ApiRules, UndecodableRequestsAreInvalidArgumentNamingTheMethod) {
  TempDir dir;
  TestServer ts(dir.path());
  auto channel = ts.Channel();
  v1::PublishRequest good;
  good.set_request_id("r1");
  *good.mutable_envelope() = Envelope("u1");
  const std::string valid = good.SerializeAsString();

  google::protobuf::Struct deep;
  google::protobuf::Struct* at = &deep;
  for (int i = 0; i < 200; ++i) at = (*at->mutable_fields())["k"].mutable_struct_value();
  v1::PublishRequest nested = good;
  *nested.mutable_envelope()->mutable_data() = deep;

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage", std::string("\xff\xff\xff\xff\xff\xff garbage", 13)},
      {"truncated", valid.substr(0, valid.size() - 3)},
      {"bad length prefix", std::string("\x12\x7f\x0a\x01", 4)},
      {"invalid UTF-8", std::string("\x0a\x02\xc3\x28", 4)},
      {"Struct nested 200 deep", nested.SerializeAsString()},
  };
  for (const auto& [what, bytes] : cases) {
    grpc::Status s = RawCall(channel, "/switchboard.v1.NotificationService/Publish", bytes);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("the request could not be parsed"), std::string::npos)
        << what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("NotificationService/Publish"), std::string::npos)
        << what << ": " << s.error_message();
    EXPECT_EQ(s.error_message().find("not implemented"), std::string::npos) << what;
  }
  // A server-streaming RPC with a typed request, and a watch.
  grpc::Status s = RawCall(channel, "/switchboard.v1.NotificationService/Subscribe", cases[0].second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  s = RawCall(channel, "/switchboard.v1.ResourcingService/WatchRun", cases[0].second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("the request could not be parsed"), std::string::npos) << s.error_message();
  // A method that does not exist is still UNIMPLEMENTED, and says so.
  s = RawCall(channel, "/switchboard.v1.NotificationService/NoSuchMethod", valid);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << s.error_message();
}

TEST(ApiRules, TimestampsOutOfRangeAreRefusedNamingTheField) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  struct Case {
    int64_t seconds;
    int32_t nanos;
    std::string want;
  };
  const std::vector<Case> cases = {
      {253402300800, 0, "seconds 253402300800"},   // 10000-01-01
      {-62135596801, 0, "seconds -62135596801"},   // before year 1
      {1464534230, -1, "nanos -1"},
      {1464534230, 1000000000, "nanos 1000000000"},
  };
  int n = 0;
  for (const auto& c : cases) {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope(absl::StrCat("t", n++));
    req.mutable_envelope()->mutable_event_creation_time()->set_seconds(c.seconds);
    req.mutable_envelope()->mutable_event_creation_time()->set_nanos(c.nanos);
    v1::PublishResponse resp;
    grpc::Status s = stub->Publish(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.want;
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "envelope.event_creation_time: " + c.want)) << s.error_message();
  }
  // The range's own ends are fine.
  for (int64_t edge : {int64_t{253402300799}, int64_t{-62135596800}}) {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope(absl::StrCat("edge", edge));
    req.mutable_envelope()->mutable_event_creation_time()->set_seconds(edge);
    req.mutable_envelope()->mutable_event_creation_time()->set_nanos(999999999);
    v1::PublishResponse resp;
    grpc::Status s = stub->Publish(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << edge << ": " << s.error_message();
  }
  // Another RPC: a managed-app notification's event_time.
  grpc::ClientContext ctx;
  v1::RecordManagedAppNotificationRequest req;
  req.set_request_id("app-1");
  req.mutable_notification()->mutable_event_time()->set_seconds(1464534230);
  req.mutable_notification()->mutable_event_time()->set_nanos(2000000000);
  v1::RecordManagedAppNotificationResponse resp;
  grpc::Status s = stub->RecordManagedAppNotification(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "notification.event_time: nanos 2000000000")) << s.error_message();
}

// A google.protobuf.Value that sets no kind (a client with the wrong field
// names) is refused by the guard, for every RPC and at any depth, naming
// its path; it used to be stored as null.
TEST(ApiRules, StructValuesWithNoKindAreRefusedNamingThePath) {
  TempDir dir;
  TestServer ts(dir.path());
  auto media = v1::MediaService::NewStub(ts.Channel());
  auto resourcing = v1::ResourcingService::NewStub(ts.Channel());
  auto notification = ts.Notification();
  const std::string kWhat =
      ": a Struct value must set one kind (null_value, number_value, string_value, bool_value, struct_value or "
      "list_value)";
  auto expect_refused = [&](const grpc::Status& s, const std::string& path) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path << ": " << s.error_message();
    EXPECT_EQ(s.error_message(), path + kWhat);
  };
  {
    // A bus envelope's data: the value of a top-level key.
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("struct-1");
    (*req.mutable_envelope()->mutable_data()->mutable_fields())["a"];  // no kind
    v1::PublishResponse resp;
    expect_refused(notification->Publish(&ctx, req, &resp), "envelope.data.fields[\"a\"]");
  }
  {
    // An operation context: the third element of a list.
    grpc::ClientContext ctx;
    v1::SetBlobMetadataRequest req;
    req.set_request_id(testing::NewRequestId());
    req.set_blob_uri("https://devstoreaccount1.blob.core.windows.net/c/b.mp4");
    (*req.mutable_blob_metadata())["k"] = "v";
    auto* list = (*req.mutable_operation_context()->mutable_fields())["a"].mutable_list_value();
    list->add_values()->set_number_value(1);
    list->add_values()->set_string_value("two");
    list->add_values();  // no kind
    v1::Operation op;
    expect_refused(media->SetBlobMetadata(&ctx, req, &op), "operation_context.fields[\"a\"].list_value.values[2]");
  }
  {
    // Nested: a SubmitBatch item's context, a struct inside a struct; the
    // key is quoted and escaped.
    grpc::ClientContext ctx;
    v1::SubmitBatchRequest req;
    auto* first = req.add_requests()->mutable_delete_blob();
    first->set_request_id(testing::NewRequestId());
    first->set_blob_uri("https://devstoreaccount1.blob.core.windows.net/c/ok.mp4");
    auto* copy = req.add_requests()->mutable_copy_blob();
    copy->set_request_id(testing::NewRequestId());
    copy->set_source_uri("https://devstoreaccount1.blob.core.windows.net/c/a.mp4");
    copy->set_destination_uri("https://devstoreaccount1.blob.core.windows.net/c/b.mp4");
    auto& outer = (*copy->mutable_operation_context()->mutable_fields())["x"];
    (*outer.mutable_struct_value()->mutable_fields())["y \"z\""];  // no kind
    v1::SubmitBatchResponse resp;
    expect_refused(media->SubmitBatch(&ctx, req, &resp),
                   "requests[1].copy_blob.operation_context.fields[\"x\"].struct_value.fields[\"y \\\"z\\\"\"]");
  }
  {
    // A repeated Struct: an encode's parameters.
    grpc::ClientContext ctx;
    v1::EncodeRequest req;
    req.set_request_id(testing::NewRequestId());
    req.set_encoder(v1::FLIP);
    req.add_input_uris("https://devstoreaccount1.blob.core.windows.net/c/in.mp4");
    req.set_output_container("https://devstoreaccount1.blob.core.windows.net/out/");
    req.set_profiles("h264");
    (*req.add_parameters()->mutable_fields())["ok"].set_bool_value(true);
    (*req.add_parameters()->mutable_fields())["p"];
    v1::Operation op;
    expect_refused(media->Encode(&ctx, req, &op), "parameters[1].fields[\"p\"]");
  }
  {
    // Another service: a run request's operation context.
    grpc::ClientContext ctx;
    v1::SubmitRunRequest req;
    req.set_request_id(testing::NewRequestId());
    (*req.mutable_operation_context()->mutable_fields())["v"];
    v1::Run run;
    expect_refused(resourcing->SubmitRun(&ctx, req, &run), "operation_context.fields[\"v\"]");
  }
  {
    // Every kind, null included, is fine.
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("struct-2");
    auto& f = *req.mutable_envelope()->mutable_data()->mutable_fields();
    f["null"].set_null_value(google::protobuf::NULL_VALUE);
    f["n"].set_number_value(1.5);
    f["s"].set_string_value("s");
    f["b"].set_bool_value(false);
    (*f["o"].mutable_struct_value()->mutable_fields())["in"].set_null_value(google::protobuf::NULL_VALUE);
    f["l"].mutable_list_value()->add_values()->set_bool_value(true);
    f["empty_list"].mutable_list_value();
    f["empty_struct"].mutable_struct_value();
    v1::PublishResponse resp;
    grpc::Status s = notification->Publish(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
}

TEST(ApiRules, ErrorsCutLongEchoedInputs) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  const std::string huge(10000, 'x');
  {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("long-name", "a.." + huge);
    v1::PublishResponse resp;
    grpc::Status s = stub->Publish(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_LE(s.error_message().size(), 1200u) << s.error_message().substr(0, 300);
    EXPECT_NE(s.error_message().find("event_name"), std::string::npos) << s.error_message().substr(0, 300);
  }
  {
    // Echoed by the name check: cut to kMaxEchoedValue.
    grpc::ClientContext ctx;
    v1::GetWebhookSubscriptionRequest req;
    req.set_name(huge);
    v1::WebhookSubscription resp;
    grpc::Status s = stub->GetWebhookSubscription(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_LE(s.error_message().size(), 400u) << s.error_message().substr(0, 300);
    EXPECT_NE(s.error_message().find("more bytes)' must be webhooks/{id}"), std::string::npos)
        << s.error_message().substr(0, 400);
  }
  {
    grpc::ClientContext ctx;
    v1::GetBusEventRequest req;
    req.set_name("busEvents/" + huge);
    v1::BusEvent resp;
    grpc::Status s = stub->GetBusEvent(&ctx, req, &resp);
    EXPECT_NE(s.error_code(), grpc::StatusCode::OK);
    EXPECT_LE(s.error_message().size(), 1200u) << s.error_message().substr(0, 300);
  }
}

TEST(ApiRules, EchoAndCutKeepUtf8Whole) {
  std::string text = std::string(199, 'a') + "\xc3\xa9" + std::string(50, 'b');
  std::string echoed = Echo(text);
  EXPECT_TRUE(absl::StartsWith(echoed, std::string(199, 'a') + "\xe2\x80\xa6(")) << echoed;
  EXPECT_NE(echoed.find("52 more bytes"), std::string::npos) << echoed;
  EXPECT_EQ(Echo("short"), "short");
  std::string cut = CutMessage("field: " + std::string(5000, 'z') + "; fix it");
  EXPECT_LE(cut.size(), kMaxErrorMessage + 40);
  EXPECT_TRUE(absl::StartsWith(cut, "field: "));
  EXPECT_TRUE(absl::EndsWith(cut, "; fix it"));
}

// Idempotency is per request_id across every RPC: an id names one request of
// one RPC, so reusing it on another RPC is ALREADY_EXISTS naming the first.
TEST(ApiRules, ARequestIdReusedOnAnotherRpcIsAlreadyExists) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  auto create = [&](const std::string& queue) {
    grpc::ClientContext ctx;
    v1::CreateSubscriptionRequest req;
    req.set_request_id("shared-id");
    req.mutable_subscription()->set_queue(queue);
    req.mutable_subscription()->add_bindings("request.#");
    v1::Subscription resp;
    return stub->CreateSubscription(&ctx, req, &resp);
  };
  grpc::Status s = create("q1");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(create("q1").ok()) << "the same request again is a replay";
  grpc::ClientContext ctx;
  v1::DeleteSubscriptionRequest del;
  del.set_request_id("shared-id");
  del.set_name("subscriptions/q1");
  v1::Subscription gone;
  s = stub->DeleteSubscription(&ctx, del, &gone);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_NE(s.error_message().find("first used for notification.CreateSubscription"), std::string::npos)
      << s.error_message();
  grpc::ClientContext ctx2;
  v1::GetSubscriptionRequest get;
  get.set_name("subscriptions/q1");
  v1::Subscription still;
  EXPECT_TRUE(stub->GetSubscription(&ctx2, get, &still).ok()) << "the delete did nothing";
}

TEST(ApiRules, ListFiltersWithUndeclaredEnumValuesAreInvalidArgument) {
  TempDir dir;
  TestServer ts(dir.path());
  auto media = v1::MediaService::NewStub(ts.Channel());
  auto resourcing = v1::ResourcingService::NewStub(ts.Channel());
  auto notification = ts.Notification();
  {
    grpc::ClientContext ctx;
    v1::ListOperationsRequest req;
    req.set_type(static_cast<v1::OperationType>(999));
    v1::ListOperationsResponse resp;
    grpc::Status s = media->ListOperations(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "type: 999 is not a value of switchboard.v1.OperationType"))
        << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::ListWorkspacesRequest req;
    req.set_status(static_cast<v1::ResourceStatus>(42));
    v1::ListWorkspacesResponse resp;
    grpc::Status s = resourcing->ListWorkspaces(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "status: 42 is not a value")) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::ListDeliveriesRequest req;
    req.set_state(static_cast<v1::DeliveryState>(77));
    v1::ListDeliveriesResponse resp;
    grpc::Status s = notification->ListDeliveries(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "state: 77 is not a value")) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::ListOperationsRequest req;
    req.set_state(v1::Operation::SUCCEEDED);
    v1::ListOperationsResponse resp;
    EXPECT_TRUE(media->ListOperations(&ctx, req, &resp).ok()) << "a declared value is fine";
  }
}

TEST(ApiRules, APageTokenIsAcceptedOnlyByTheListThatIssuedIt) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  for (int i = 0; i < 3; ++i) testing::PublishOk(*stub, absl::StrCat("p", i));
  std::string token;
  {
    grpc::ClientContext ctx;
    v1::ListBusEventsRequest req;
    req.set_page_size(1);
    v1::ListBusEventsResponse resp;
    ASSERT_TRUE(stub->ListBusEvents(&ctx, req, &resp).ok());
    token = resp.next_page_token();
    ASSERT_FALSE(token.empty());
  }
  {
    grpc::ClientContext ctx;
    v1::ListBusEventsRequest req;
    req.set_page_size(1);
    req.set_page_token(token);
    v1::ListBusEventsResponse resp;
    grpc::Status s = stub->ListBusEvents(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.events_size(), 1);
  }
  {
    grpc::ClientContext ctx;
    v1::ListWebhookSubscriptionsRequest req;
    req.set_page_token(token);
    v1::ListWebhookSubscriptionsResponse resp;
    grpc::Status s = stub->ListWebhookSubscriptions(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("page_token was issued for a listing of bus_event"), std::string::npos)
        << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::ListOperationsRequest req;
    req.set_page_token(token);
    v1::ListOperationsResponse resp;
    auto media = v1::MediaService::NewStub(ts.Channel());
    EXPECT_EQ(media->ListOperations(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

// A watch on a named resource that does not exist when it is called ends at
// once; an unnamed watch (every resource) stays open.
TEST(ApiRules, WatchesOnNamesThatDoNotExistAreRefused) {
  TempDir dir;
  TestServer ts(dir.path());
  auto channel = ts.Channel();
  auto bytes = [](const google::protobuf::Message& m) { return m.SerializeAsString(); };
  struct Case {
    std::string path;
    std::string request;
    grpc::StatusCode want;
  };
  v1::WatchOperationRequest op;
  op.set_name("operations/nope");
  v1::WatchRunRequest run;
  run.set_name("runs/999");
  v1::WatchWorkspacesRequest ws;
  ws.set_workspace("workspaces/NOPE");
  v1::WatchApplicationsRequest app_up;
  app_up.set_name("applications/../../etc");
  v1::WatchApplicationsRequest app;
  app.set_name("applications/subscriptions/s/resourceGroups/rg/providers/Microsoft.Solutions/applications/none");
  v1::WatchDeliveriesRequest hook;
  hook.set_webhook("webhooks/nope");
  const std::vector<Case> cases = {
      {"/switchboard.v1.MediaService/WatchOperation", bytes(op), grpc::StatusCode::NOT_FOUND},
      {"/switchboard.v1.ResourcingService/WatchRun", bytes(run), grpc::StatusCode::NOT_FOUND},
      {"/switchboard.v1.ResourcingService/WatchWorkspaces", bytes(ws), grpc::StatusCode::NOT_FOUND},
      {"/switchboard.v1.NotificationService/WatchApplications", bytes(app), grpc::StatusCode::NOT_FOUND},
      {"/switchboard.v1.NotificationService/WatchDeliveries", bytes(hook), grpc::StatusCode::NOT_FOUND},
  };
  for (const auto& c : cases) {
    grpc::Status s = RawCall(channel, c.path, c.request, "", std::chrono::milliseconds(5000));
    EXPECT_EQ(s.error_code(), c.want) << c.path << ": " << s.error_message();
  }
  grpc::Status s = RawCall(channel, "/switchboard.v1.NotificationService/WatchApplications", bytes(app_up), "",
                           std::chrono::milliseconds(5000));
  EXPECT_TRUE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT || s.error_code() == grpc::StatusCode::NOT_FOUND)
      << s.error_code() << ": " << s.error_message();
  s = RawCall(channel, "/switchboard.v1.NotificationService/WatchApplications", "", "",
              std::chrono::milliseconds(500));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "a watch on every application stays open";
}

}  // namespace
}  // namespace switchboard
