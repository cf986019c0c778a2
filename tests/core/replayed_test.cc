// Replays are visible: every mutating RPC answered from an earlier request
// with the same request_id carries the trailing metadata
// `x-switchboard-replayed: true`, and a first answer never does. One table
// over the three services, through a real gRPC client.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "switchboard/v1/media.grpc.pb.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using testing::Envelope;
using testing::TempDir;
using testing::TestServer;

constexpr char kReplayed[] = "x-switchboard-replayed";

struct Stubs {
  std::unique_ptr<v1::NotificationService::Stub> notification;
  std::unique_ptr<v1::MediaService::Stub> media;
  std::unique_ptr<v1::ResourcingService::Stub> resourcing;
};

// One mutating RPC: `setup` (may be empty) runs once, then `call` twice with
// the same request_id.
struct Case {
  std::string rpc;
  std::function<void(Stubs&)> setup;
  std::function<grpc::Status(Stubs&, grpc::ClientContext*)> call;
};

// What the trailer says after a finished call: "" when absent.
std::string ReplayedTrailer(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(kReplayed);
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

v1::Subscription Queue(const std::string& queue) {
  v1::Subscription s;
  s.set_queue(queue);
  s.add_bindings("request.gapps.#");
  return s;
}

v1::WebhookSubscription Hook(const std::string& id) {
  v1::WebhookSubscription h;
  h.set_name("webhooks/" + id);
  h.set_url("http://127.0.0.1:9/hook");  // nothing is published to it
  h.add_bindings("nothing.matches.this");
  h.set_secret("0123456789abcdef0123");
  return h;
}

v1::CreateContainerRequest Container(const std::string& request_id, const std::string& name) {
  v1::CreateContainerRequest r;
  r.set_request_id(request_id);
  r.set_storage_account_name("devstoreaccount1");
  r.set_container_name(name);
  return r;
}

v1::SubmitRunRequest Run(const std::string& request_id) {
  v1::SubmitRunRequest r;
  r.set_request_id(request_id);
  r.mutable_workspace()->set_name("Replay Lab");
  r.mutable_workspace()->set_acronym("RPL");
  r.mutable_workspace()->mutable_organization()->set_name("Fisheries and Oceans Canada");
  r.mutable_workspace()->mutable_organization()->set_code("DFO");
  r.add_modules()->set_name("templates/new-workspace-template");
  r.set_requesting_user_email("ana.lead@dfo.example");
  return r;
}

void MustCreateQueue(Stubs& s, const std::string& queue) {
  grpc::ClientContext ctx;
  v1::CreateSubscriptionRequest req;
  req.set_request_id("setup-" + queue);
  *req.mutable_subscription() = Queue(queue);
  v1::Subscription out;
  grpc::Status st = s.notification->CreateSubscription(&ctx, req, &out);
  ASSERT_TRUE(st.ok()) << st.error_message();
}

void MustCreateHook(Stubs& s, const std::string& id) {
  grpc::ClientContext ctx;
  v1::CreateWebhookSubscriptionRequest req;
  req.set_request_id("setup-" + id);
  *req.mutable_webhook() = Hook(id);
  v1::WebhookSubscription out;
  grpc::Status st = s.notification->CreateWebhookSubscription(&ctx, req, &out);
  ASSERT_TRUE(st.ok()) << st.error_message();
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"NotificationService.Publish", nullptr, [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::PublishRequest req;
                     *req.mutable_envelope() = Envelope("replay-uuid-1");  // event_uuid is the request_id
                     v1::PublishResponse out;
                     return s.notification->Publish(ctx, req, &out);
                   }});
  cases.push_back({"NotificationService.CreateSubscription", nullptr, [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::CreateSubscriptionRequest req;
                     req.set_request_id("rid-create-sub");
                     *req.mutable_subscription() = Queue("replay_q");
                     v1::Subscription out;
                     return s.notification->CreateSubscription(ctx, req, &out);
                   }});
  cases.push_back({"NotificationService.DeleteSubscription",
                   [](Stubs& s) { MustCreateQueue(s, "doomed_q"); },
                   [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::DeleteSubscriptionRequest req;
                     req.set_request_id("rid-delete-sub");
                     req.set_name("subscriptions/doomed_q");
                     v1::Subscription out;
                     return s.notification->DeleteSubscription(ctx, req, &out);
                   }});
  cases.push_back({"NotificationService.PurgeDeadLetters", nullptr, [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::PurgeDeadLettersRequest req;
                     req.set_request_id("rid-purge");
                     v1::PurgeDeadLettersResponse out;
                     return s.notification->PurgeDeadLetters(ctx, req, &out);
                   }});
  cases.push_back({"NotificationService.CreateWebhookSubscription", nullptr,
                   [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::CreateWebhookSubscriptionRequest req;
                     req.set_request_id("rid-create-hook");
                     *req.mutable_webhook() = Hook("replay-hook");
                     v1::WebhookSubscription out;
                     return s.notification->CreateWebhookSubscription(ctx, req, &out);
                   }});
  // The second delete finds the webhook gone, and still answers from the
  // first one's record.
  cases.push_back({"NotificationService.DeleteWebhookSubscription",
                   [](Stubs& s) { MustCreateHook(s, "doomed-hook"); },
                   [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::DeleteWebhookSubscriptionRequest req;
                     req.set_request_id("rid-delete-hook");
                     req.set_name("webhooks/doomed-hook");
                     v1::WebhookSubscription out;
                     return s.notification->DeleteWebhookSubscription(ctx, req, &out);
                   }});
  cases.push_back({"MediaService.CreateContainer", nullptr, [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::Operation out;
                     return s.media->CreateContainer(ctx, Container("rid-container", "replayed"), &out);
                   }});
  cases.push_back({"MediaService.SubmitBatch", nullptr, [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::SubmitBatchRequest req;
                     *req.add_requests()->mutable_create_container() = Container("rid-batch-1", "batch-one");
                     *req.add_requests()->mutable_create_container() = Container("rid-batch-2", "batch-two");
                     v1::SubmitBatchResponse out;
                     return s.media->SubmitBatch(ctx, req, &out);
                   }});
  cases.push_back({"MediaService.ReportStorageEvent", nullptr, [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::ReportStorageEventRequest req;
                     req.set_request_id("eventgrid-id-1");
                     req.mutable_event()->set_kind(v1::StorageEvent::BLOB_CREATED);
                     req.mutable_event()->set_blob_uri(
                         "https://devstoreaccount1.blob.core.windows.net/media/in.mp4");
                     v1::StorageEvent out;
                     return s.media->ReportStorageEvent(ctx, req, &out);
                   }});
  cases.push_back({"ResourcingService.SubmitRun", nullptr, [](Stubs& s, grpc::ClientContext* ctx) {
                     v1::Run out;
                     return s.resourcing->SubmitRun(ctx, Run("rid-run"), &out);
                   }});
  return cases;
}

TEST(Replayed, EveryMutatingRpcMarksARepeatOfItsRequestIdAndOnlyThat) {
  TempDir dir;
  TestServer ts(dir.path());
  Stubs stubs{v1::NotificationService::NewStub(ts.Channel()), v1::MediaService::NewStub(ts.Channel()),
              v1::ResourcingService::NewStub(ts.Channel())};
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.rpc);
    if (c.setup) c.setup(stubs);
    grpc::ClientContext first;
    grpc::Status s = c.call(stubs, &first);
    ASSERT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    EXPECT_EQ(ReplayedTrailer(first), "") << "a first answer is not a replay";
    grpc::ClientContext again;
    s = c.call(stubs, &again);
    ASSERT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    EXPECT_EQ(ReplayedTrailer(again), "true") << "the repeat was answered from the first request";
  }
}

TEST(Replayed, ABatchIsMarkedOnlyWhenEveryRequestWasAReplayAndEachResultSaysSo) {
  TempDir dir;
  TestServer ts(dir.path());
  auto media = v1::MediaService::NewStub(ts.Channel());
  v1::SubmitBatchRequest req;
  *req.add_requests()->mutable_create_container() = Container("rid-a", "box-a");
  v1::SubmitBatchResponse out;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(media->SubmitBatch(&ctx, req, &out).ok());
    EXPECT_FALSE(out.results(0).replayed());
  }
  // One old request and one new one: the call is not a replay, the old result is.
  *req.add_requests()->mutable_create_container() = Container("rid-b", "box-b");
  grpc::ClientContext ctx;
  ASSERT_TRUE(media->SubmitBatch(&ctx, req, &out).ok());
  ASSERT_EQ(out.results_size(), 2);
  EXPECT_TRUE(out.results(0).replayed());
  EXPECT_FALSE(out.results(1).replayed());
  EXPECT_EQ(ReplayedTrailer(ctx), "");
}

TEST(Replayed, AReusedRequestIdWithOtherContentIsAnErrorNotAReplay) {
  TempDir dir;
  TestServer ts(dir.path());
  auto media = v1::MediaService::NewStub(ts.Channel());
  v1::Operation op;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(media->CreateContainer(&ctx, Container("rid-x", "first-box"), &op).ok());
  }
  grpc::ClientContext ctx;
  grpc::Status s = media->CreateContainer(&ctx, Container("rid-x", "second-box"), &op);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_EQ(ReplayedTrailer(ctx), "");
}

}  // namespace
}  // namespace switchboard
