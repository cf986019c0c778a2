// The API through a real gRPC client against an in-process server:
// idempotency, bad input, reflection, health, UNIMPLEMENTED messages,
// durability across a restart.

#include <gtest/gtest.h>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/empty.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include <grpcpp/generic/generic_stub.h>

#include <fstream>
#include <iterator>
#include <set>

#include "absl/strings/match.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using testing::Envelope;
using testing::PublishOk;
using testing::TempDir;
using testing::TestServer;

TEST(Api, PublishIsIdempotentOnEventUuid) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  int64_t first = PublishOk(*stub, "uuid-1");
  int64_t again = PublishOk(*stub, "uuid-1");
  EXPECT_EQ(first, again) << "a repeat returns the first result";
  int64_t other = PublishOk(*stub, "uuid-2");
  EXPECT_EQ(other, first + 1) << "the repeat appended nothing";

  grpc::ClientContext ctx;
  v1::PublishRequest req;
  *req.mutable_envelope() = Envelope("uuid-1", "notify.gapps.account.updated");
  v1::PublishResponse resp;
  grpc::Status s = stub->Publish(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find("uuid-1"), std::string::npos);
}

TEST(Api, GetBusEventReadsWhatWasPublished) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  int64_t seq = PublishOk(*stub, "abc");
  grpc::ClientContext ctx;
  v1::GetBusEventRequest req;
  req.set_name("busEvents/abc");
  v1::BusEvent ev;
  ASSERT_TRUE(stub->GetBusEvent(&ctx, req, &ev).ok());
  EXPECT_EQ(ev.sequence(), seq);
  EXPECT_EQ(ev.envelope().event_name(), "request.gapps.account.create");
  EXPECT_EQ(ev.envelope().data().fields().at("id").string_value(), "12453");
  EXPECT_EQ(ev.publisher(), "local-admin");

  grpc::ClientContext ctx2;
  req.set_name("busEvents/missing");
  EXPECT_EQ(stub->GetBusEvent(&ctx2, req, &ev).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(Api, ListBusEventsPagesAndFilters) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  for (int i = 0; i < 7; ++i) PublishOk(*stub, "e" + std::to_string(i));
  {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("other", "notify.gapps.account.updated");
    v1::PublishResponse resp;
    ASSERT_TRUE(stub->Publish(&ctx, req, &resp).ok());
  }
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    v1::ListBusEventsRequest req;
    req.set_page_size(3);
    req.set_page_token(token);
    req.set_binding("request.#");
    v1::ListBusEventsResponse resp;
    ASSERT_TRUE(stub->ListBusEvents(&ctx, req, &resp).ok());
    for (const auto& e : resp.events()) seen.insert(e.envelope().event_uuid());
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(seen.count("other"), 0u);
  EXPECT_EQ(pages, 3);

  grpc::ClientContext ctx;
  v1::ListBusEventsRequest bad;
  bad.set_page_token("garbage!");
  v1::ListBusEventsResponse resp;
  EXPECT_EQ(stub->ListBusEvents(&ctx, bad, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(Api, BadEnvelopesAreRejectedNamingTheField) {
  TempDir dir;
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  struct Bad {
    std::function<void(v1::BusEnvelope*)> mutate;
    std::string field;
  };
  std::vector<Bad> cases = {
      {[](v1::BusEnvelope* e) { e->clear_event_uuid(); }, "event_uuid"},
      {[](v1::BusEnvelope* e) { e->set_event_name(""); }, "event_name"},
      {[](v1::BusEnvelope* e) { e->set_event_name("a..b"); }, "event_name"},
      {[](v1::BusEnvelope* e) { e->clear_event_sender_id(); }, "event_sender_id"},
      {[](v1::BusEnvelope* e) { e->clear_data(); }, "data"},
      {[](v1::BusEnvelope* e) { e->clear_event_creation_time(); }, "event_creation_time"},
      {[](v1::BusEnvelope* e) { e->add_errors(); }, "errors[0].error_type"},
  };
  for (const auto& c : cases) {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("bad");
    c.mutate(req.mutable_envelope());
    v1::PublishResponse resp;
    grpc::Status s = stub->Publish(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos) << s.error_message();
  }
  grpc::ClientContext ctx;
  v1::GetBusEventRequest get;
  get.set_name("busEvents/bad");
  v1::BusEvent ev;
  EXPECT_EQ(stub->GetBusEvent(&ctx, get, &ev).error_code(), grpc::StatusCode::NOT_FOUND) << "nothing stored";
}

TEST(Api, UnknownFieldsAndOversizedRequestsAreInvalidArgument) {
  TempDir dir;
  core::ServerConfig cfg;
  cfg.max_message_bytes = 4096;
  TestServer ts(dir.path(), cfg);
  auto stub = ts.Notification();
  {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("u1");
    req.mutable_envelope()->GetReflection()->MutableUnknownFields(req.mutable_envelope())->AddVarint(99, 1);
    v1::PublishResponse resp;
    grpc::Status s = stub->Publish(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("envelope: unknown field number 99"), std::string::npos) << s.error_message();
  }
  {
    // Deeper down, the error names the whole path, map entries included.
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("u1b");
    google::protobuf::Value& v = (*req.mutable_envelope()->mutable_data()->mutable_fields())["k"];
    v.set_string_value("x");
    v.GetReflection()->MutableUnknownFields(&v)->AddVarint(98, 1);
    v1::PublishResponse resp;
    grpc::Status s = stub->Publish(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    // A map entry is named by its key.
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "envelope.data.fields[\"k\"]: unknown field number 98"))
        << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_envelope() = Envelope("u2");
    (*req.mutable_envelope()->mutable_data()->mutable_fields())["big"].set_string_value(std::string(10000, 'x'));
    v1::PublishResponse resp;
    grpc::Status s = stub->Publish(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("at most 4096"), std::string::npos) << s.error_message();
  }
}

TEST(Api, HealthCheckThroughARealClient) {
  TempDir dir;
  TestServer ts(dir.path());
  auto health = grpc::health::v1::Health::NewStub(ts.Channel());
  for (const char* name : {"", "switchboard.v1.ResourcingService", "switchboard.v1.MediaService",
                           "switchboard.v1.NotificationService"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(name);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok()) << name;
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << name;
  }
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  req.set_service("no.such.Service");
  grpc::health::v1::HealthCheckResponse resp;
  EXPECT_EQ(health->Check(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Speaks grpc.reflection.v1alpha on the wire without its generated code (the
// server links that), reading replies as unknown fields of an Empty.
class RawReflection {
 public:
  explicit RawReflection(std::shared_ptr<grpc::Channel> ch) : stub_(ch) {}

  // ServerReflectionRequest field 7: list_services; reply field 6.
  std::vector<std::string> ListServices() {
    google::protobuf::UnknownFieldSet reply;
    Ask(7, "*", &reply);
    std::vector<std::string> names;
    for (int i = 0; i < reply.field_count(); ++i) {
      if (reply.field(i).number() != 6) continue;
      google::protobuf::UnknownFieldSet list;
      list.ParseFromString(reply.field(i).length_delimited());
      for (int j = 0; j < list.field_count(); ++j) {
        google::protobuf::UnknownFieldSet svc;
        svc.ParseFromString(list.field(j).length_delimited());
        names.push_back(svc.field(0).length_delimited());
      }
    }
    return names;
  }

  // Request field 4: file_containing_symbol; reply field 4 holds
  // FileDescriptorProto bytes.
  std::vector<google::protobuf::FileDescriptorProto> FilesFor(const std::string& symbol) {
    google::protobuf::UnknownFieldSet reply;
    Ask(4, symbol, &reply);
    std::vector<google::protobuf::FileDescriptorProto> files;
    for (int i = 0; i < reply.field_count(); ++i) {
      if (reply.field(i).number() != 4) continue;
      google::protobuf::UnknownFieldSet fdr;
      fdr.ParseFromString(reply.field(i).length_delimited());
      for (int j = 0; j < fdr.field_count(); ++j) {
        google::protobuf::FileDescriptorProto f;
        f.ParseFromString(fdr.field(j).length_delimited());
        files.push_back(f);
      }
    }
    return files;
  }

 private:
  void Ask(int field, const std::string& value, google::protobuf::UnknownFieldSet* parsed) {
    google::protobuf::UnknownFieldSet req;
    req.AddLengthDelimited(field, value);
    std::string bytes;
    req.SerializeToString(&bytes);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto call = stub_.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq_);
    void* tag;
    bool ok;
    call->StartCall(reinterpret_cast<void*>(1));
    cq_.Next(&tag, &ok);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer out(&slice, 1);
    call->WriteLast(out, grpc::WriteOptions(), reinterpret_cast<void*>(2));
    cq_.Next(&tag, &ok);
    grpc::ByteBuffer in;
    call->Read(&in, reinterpret_cast<void*>(3));
    cq_.Next(&tag, &ok);
    EXPECT_TRUE(ok) << "reflection answered";
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(4));
    cq_.Next(&tag, &ok);
    std::vector<grpc::Slice> slices;
    in.Dump(&slices);
    std::string reply;
    for (auto& s : slices) reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
    parsed->ParseFromString(reply);
  }

  grpc::GenericStub stub_;
  grpc::CompletionQueue cq_;
};

TEST(Api, ReflectionListsEveryServiceAndDescribesHealth) {
  TempDir dir;
  TestServer ts(dir.path());
  RawReflection reflection(ts.Channel());
  auto names = reflection.ListServices();
  std::set<std::string> set(names.begin(), names.end());
  const std::set<std::string> want = {"switchboard.v1.ResourcingService", "switchboard.v1.MediaService",
                                      "switchboard.v1.NotificationService", "switchboard.v1.CursorService",
                                      "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"};
  EXPECT_EQ(set, want) << "what `grpcurl list` shows; the README lists it";
  // The README says what grpcurl shows: every service by its name (the
  // switchboard.v1 ones may be named without the package after the first).
  std::ifstream readme(std::string(SB_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(readme) << "README.md not found under " << SB_SOURCE_DIR;
  const std::string text((std::istreambuf_iterator<char>(readme)), std::istreambuf_iterator<char>());
  for (const auto& name : set) {
    const std::string short_name = name.substr(name.rfind('.') + 1);
    EXPECT_TRUE(text.find(name) != std::string::npos || text.find("`" + short_name + "`") != std::string::npos)
        << "README.md does not name the service " << name;
  }
  auto files = reflection.FilesFor("grpc.health.v1.Health");
  ASSERT_FALSE(files.empty()) << "health descriptors must be visible through reflection";
  EXPECT_EQ(files[0].name(), "grpc/health/v1/health.proto");
  auto media = reflection.FilesFor("switchboard.v1.MediaService");
  ASSERT_FALSE(media.empty());
  EXPECT_EQ(media[0].package(), "switchboard.v1");
}

TEST(Api, EventsSurviveAServerRestart) {
  TempDir dir;
  {
    TestServer ts(dir.path());
    auto stub = ts.Notification();
    for (int i = 0; i < 3; ++i) PublishOk(*stub, "keep-" + std::to_string(i));
  }
  TestServer ts(dir.path());
  auto stub = ts.Notification();
  EXPECT_EQ(PublishOk(*stub, "keep-1"), 2) << "idempotency survives the restart";
  EXPECT_EQ(PublishOk(*stub, "after-restart"), 4) << "the sequence carries on without a gap";
  grpc::ClientContext ctx;
  v1::WatchEventsRequest req;
  auto reader = stub->WatchEvents(&ctx, req);
  v1::NotificationEvent ev;
  for (int64_t expect = 1; expect <= 4; ++expect) {
    ASSERT_TRUE(reader->Read(&ev));
    EXPECT_EQ(ev.sequence(), expect);
  }
  ctx.TryCancel();
}

}  // namespace
}  // namespace switchboard
