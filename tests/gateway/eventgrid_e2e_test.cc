// Event Grid end to end: a real switchboardd (in-process, real SQLite and
// local blob store), the real switchboard-gateway binary as a child process,
// and a loopback HTTP server playing the Event Grid topic. Every fixture of
// examples/wire/eventgrid is posted and its response events are checked
// in order, with the operationContext echoed.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "common/azure/http_client.h"
#include "server/blob/local_blob_store.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "tests/clients/subprocess.h"
#include "tests/core/test_support.h"
#include "tests/gateway/capture_server.h"
#include "tests/gateway/http_client.h"
#include "tests/core/free_port.h"

namespace switchboard::gateway {
namespace {

using json = nlohmann::json;
using switchboard::testing::CaptureServer;
using switchboard::testing::FreePort;
using switchboard::testing::HttpClient;
using switchboard::testing::Subprocess;
using switchboard::testing::TempDir;
using switchboard::testing::TestServer;
using namespace std::chrono_literals;

constexpr char kKey[] = "e2e-eventgrid-key";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json Fixture(const std::string& name) {
  return json::parse(ReadFile(std::string(SB_FIXTURES_DIR) + "/eventgrid/" + name + ".json"));
}


// The fixtures' blob (devstoreaccount1/media/input/clip.mp4), a real
// one-second clip made with ffmpeg, put in the local store before the
// server opens it.
void SeedClip(const std::string& data_dir) {
  std::string clip = data_dir + "/clip.mp4";
  std::string cmd = "ffmpeg -loglevel error -y -f lavfi -i testsrc=duration=1:size=160x120:rate=10 -pix_fmt yuv420p '" +
                    clip + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  blob::LocalBlobStoreOptions o;
  o.root = data_dir + "/blobs";
  o.base_url = [] { return std::string("http://127.0.0.1"); };
  auto store = blob::LocalBlobStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CreateContainer("devstoreaccount1", "media").ok());
  std::string bytes = ReadFile(clip);
  size_t off = 0;
  blob::PutOptions po;
  po.content_type = "video/mp4";
  auto put = (*store)->PutBlob({"devstoreaccount1", "media", "input/clip.mp4"}, static_cast<int64_t>(bytes.size()),
                               [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
                                 size_t n = std::min(cap, bytes.size() - off);
                                 std::copy_n(bytes.data() + off, n, buf);
                                 off += n;
                                 return n;
                               },
                               po);
  ASSERT_TRUE(put.ok()) << put.status();
}

class EventGridE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.path() + "/data";
    std::filesystem::create_directories(data_);
    SeedClip(data_);
    server_ = std::make_unique<TestServer>(data_);
    port_ = FreePort();
  }

  // With a certificate (`tls`), the gateway serves HTTPS with it and is
  // asked for its health over HTTPS, verified against it.
  void StartGateway(const switchboard::testing::TestCertificate* tls = nullptr) {
    std::string err;
    gateway_ = std::make_unique<Subprocess>();
    Subprocess::Options o;
    o.stderr_file = dir_.path() + "/gateway." + std::to_string(++gateway_starts_) + ".log";
    std::vector<std::string> argv = {SWITCHBOARD_GATEWAY_PATH, "--server=" + server_->server().grpc_address(),
                                     "--http_address=127.0.0.1:" + std::to_string(port_),
                                     std::string("--eventgrid_key=") + kKey, "--eventgrid_topic_url=" + topic_.url(),
                                     "--eventgrid_topic_key=topic-key", "--timeout_seconds=5"};
    if (tls != nullptr) {
      argv.push_back("--http_tls_cert_file=" + tls->cert);
      argv.push_back("--http_tls_key_file=" + tls->key);
    }
    ASSERT_TRUE(gateway_->Start(argv, o, &err)) << err;
    // Up once it answers.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (tls == nullptr) {
        HttpClient c(Address());
        if (c.Get("/healthz").status == 200) return;
      } else {
        azure::HttpRequest r;
        r.url = "https://" + Address() + "/healthz";
        r.ca_file = tls->cert;
        auto resp = azure::PerformHttp(r);
        if (resp.ok() && resp->status == 200) return;
      }
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the gateway did not come up: " << ReadFile(o.stderr_file);
  }

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  int Post(const json& batch) {
    HttpClient c(Address());
    auto r = c.Post("/api/eventgrid", batch.dump(), {{"aeg-sas-key", kKey}, {"content-type", "application/json"}});
    last_body_ = r.body;
    return r.status;
  }

  // Response events whose data.operationContext equals `ctx`, in arrival order.
  std::vector<json> ResponsesFor(const json& ctx) const {
    std::vector<json> out;
    for (const auto& e : topic_.Events()) {
      if (e.contains("data") && e["data"].is_object() && e["data"].contains("operationContext") &&
          e["data"]["operationContext"] == ctx) {
        out.push_back(e);
      }
    }
    return out;
  }

  static std::vector<std::string> Types(const std::vector<json>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.value("eventType", ""));
    return out;
  }

  // Waits until the responses for `ctx` end with `last`.
  std::vector<std::string> WaitForTypes(const json& ctx, const std::string& last,
                                        std::chrono::milliseconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<std::string> types;
    while (std::chrono::steady_clock::now() < deadline) {
      types = Types(ResponsesFor(ctx));
      if (!types.empty() && types.back() == last) return types;
      std::this_thread::sleep_for(50ms);
    }
    return types;
  }

  TempDir dir_;
  std::string data_;
  std::unique_ptr<TestServer> server_;
  CaptureServer topic_;
  std::unique_ptr<Subprocess> gateway_;
  int gateway_starts_ = 0;
  int port_ = 0;
  std::string last_body_;
};

// Each fixture with a context of its own, so that its responses can be told
// apart; the expected response types in order.
struct Case {
  std::string fixture;
  std::vector<std::string> expected;
};

TEST_F(EventGridE2eTest, EveryFixtureGetsItsResponsesInOrderWithTheContextEchoed) {
  StartGateway();
  const std::vector<Case> cases = {
      {"request.blob.metadata.create", {"response.acknowledge", "response.blob.metadata.success"}},
      {"request.blob.analysis.create", {"response.acknowledge", "response.blob.analysis.success"}},
      {"request.blob.sas-url.create", {"response.acknowledge", "response.blob.sas-url.success"}},
      {"request.blob.tier.change", {"response.acknowledge", "response.blob.tier.success"}},
      {"request.blob.container.create", {"response.acknowledge", "response.blob.container.create.success"}},
      {"request.blob.container.access.change",
       {"response.acknowledge", "response.blob.container.access.change.success"}},
      {"request.blob.container.delete", {"response.acknowledge", "response.blob.container.delete.success"}},
      {"request.blob.copy", {"response.acknowledge", "response.blob.copy.scheduled", "response.blob.created.success"}},
      {"request.blob.delete",
       {"response.acknowledge", "response.blob.delete.scheduled", "response.blob.delete.success"}},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fixture);
    json batch = Fixture(c.fixture);
    json ctx = {{"case", c.fixture}, {"n", ++n}};
    batch[0]["data"]["operationContext"] = ctx;
    ASSERT_EQ(Post(batch), 200) << last_body_;
    auto types = WaitForTypes(ctx, c.expected.back());
    EXPECT_EQ(types, c.expected);
    for (const json& e : ResponsesFor(ctx)) {
      EXPECT_EQ(e["data"]["operationContext"], ctx);
      EXPECT_FALSE(e.value("id", "").empty());
      EXPECT_EQ(e.value("dataVersion", ""), "1.0");
    }
    // The acknowledge names the request type.
    auto events = ResponsesFor(ctx);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events[0]["data"]["eventType"], c.fixture);
  }
  EXPECT_EQ(topic_.Keys().front(), "topic-key");
}

TEST_F(EventGridE2eTest, EncodeRollKeyAndStorageEventsAreAnswered) {
  StartGateway();
  for (std::string f : {"request.encode.flip.create", "request.encode.cloudport.create"}) {
    SCOPED_TRACE(f);
    json batch = Fixture(f);
    json ctx = {{"case", f}};
    batch[0]["data"]["operationContext"] = ctx;
    ASSERT_EQ(Post(batch), 200) << last_body_;
    // Acknowledged first; then the encode's own events up to success or a failure.
    auto deadline = std::chrono::steady_clock::now() + 60s;
    std::vector<std::string> types;
    while (std::chrono::steady_clock::now() < deadline) {
      types = Types(ResponsesFor(ctx));
      if (!types.empty() && (types.back() == "response.failure" || absl::EndsWith(types.back(), ".success"))) break;
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_GE(types.size(), 2u) << ::testing::PrintToString(types);
    EXPECT_EQ(types.front(), "response.acknowledge");
    EXPECT_TRUE(types.back() == "response.failure" || absl::EndsWith(types.back(), ".success"))
        << ::testing::PrintToString(types);
  }
  // Roll key: no acknowledge and no operationContext in its response.
  ASSERT_EQ(Post(Fixture("request.rollkey.storage")), 200) << last_body_;
  ASSERT_TRUE(topic_.WaitForEvents(1, 10s));
  bool rolled = false;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!rolled && std::chrono::steady_clock::now() < deadline) {
    for (const auto& e : topic_.Events()) {
      if (e.value("eventType", "") == "response.rollkey.storage.success") {
        rolled = true;
        EXPECT_EQ(e["data"]["account"], "devstoreaccount1");
        EXPECT_EQ(e["data"]["keyName"], "key1");
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(rolled);
  // A BlobCreated storage event is accepted and answered.
  size_t before = topic_.Events().size();
  ASSERT_EQ(Post(Fixture("microsoft.storage.blobcreated")), 200) << last_body_;
  EXPECT_TRUE(topic_.WaitForEvents(before + 1, 20s));
}

TEST_F(EventGridE2eTest, SameEventGridIdThreeTimesIsOneOperation) {
  StartGateway();
  json batch = Fixture("request.blob.metadata.create");
  json ctx = {{"case", "thrice"}};
  batch[0]["data"]["operationContext"] = ctx;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Post(batch), 200) << last_body_;
  auto types = WaitForTypes(ctx, "response.blob.metadata.success");
  std::this_thread::sleep_for(1s);  // a second operation would have answered by now
  EXPECT_EQ(Types(ResponsesFor(ctx)),
            (std::vector<std::string>{"response.acknowledge", "response.blob.metadata.success"}));
  grpc::ClientContext gctx;
  v1::ListOperationsRequest req;
  v1::ListOperationsResponse resp;
  auto media = v1::MediaService::NewStub(server_->Channel());
  ASSERT_TRUE(media->ListOperations(&gctx, req, &resp).ok());
  EXPECT_EQ(resp.operations_size(), 1);
}

// A batch larger than one SubmitBatch (1,000 requests) goes in several;
// each event is still answered on its own, a refused one in the middle too.
TEST_F(EventGridE2eTest, ABatchOfMoreThanOneSubmitBatchIsAnsweredEventByEvent) {
  StartGateway();
  const json one = Fixture("request.blob.metadata.create")[0];
  json batch = json::array();
  for (int i = 0; i < 1201; ++i) {
    json e = one;
    e["id"] = "big-" + std::to_string(i);
    e["data"]["operationContext"] = {{"big", i}};
    if (i == 700) e["data"]["blobMetadata"] = {{"not an identifier", "x"}};
    batch.push_back(e);
  }
  ASSERT_EQ(Post(batch), 200) << last_body_;
  EXPECT_NE(last_body_.find("accepted 1200 of 1201"), std::string::npos) << last_body_;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  int success = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    success = 0;
    for (const auto& e : topic_.Events()) success += e.value("eventType", "") == "response.blob.metadata.success";
    if (success >= 1200) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(success, 1200);
  EXPECT_EQ(Types(ResponsesFor({{"big", 700}})),
            (std::vector<std::string>{"response.acknowledge", "response.failure"}));
  EXPECT_EQ(Types(ResponsesFor({{"big", 1200}})),
            (std::vector<std::string>{"response.acknowledge", "response.blob.metadata.success"}));
}

TEST_F(EventGridE2eTest, GatewayKilledBetweenAcceptAndPublishStillPublishesEverything) {
  StartGateway();
  topic_.FailNext(1000000, 503);  // the topic is down: nothing gets published
  std::vector<json> contexts;
  for (int i = 0; i < 5; ++i) {
    json batch = Fixture("request.blob.metadata.create");
    batch[0]["id"] = "kill-" + std::to_string(i);
    json ctx = {{"case", "kill"}, {"i", i}};
    batch[0]["data"]["operationContext"] = ctx;
    contexts.push_back(ctx);
    ASSERT_EQ(Post(batch), 200) << last_body_;
  }
  std::this_thread::sleep_for(500ms);  // accepted and answered by the server, not published
  gateway_->Signal(SIGKILL);
  gateway_->Wait(5s);
  topic_.FailNext(0, 503);
  EXPECT_TRUE(topic_.Events().empty());
  StartGateway();
  for (const json& ctx : contexts) {
    auto types = WaitForTypes(ctx, "response.blob.metadata.success");
    EXPECT_EQ(types, (std::vector<std::string>{"response.acknowledge", "response.blob.metadata.success"}))
        << ctx.dump();
  }
}

// The shape of a JSON value: every key, recursively, and the type of every
// leaf; values that differ run to run (ids, times, signatures) do not count.
json Shape(const json& v) {
  if (v.is_object()) {
    json out = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = Shape(it.value());
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& e : v) out.push_back(Shape(e));
    return out;
  }
  return v.type_name();
}

// A restarted gateway has none of the requests it saw in memory: its
// responses must still carry every field (from the server's log alone).
TEST_F(EventGridE2eTest, ResponsesAfterAGatewayRestartHaveEveryFieldOfLiveOnes) {
  const std::vector<Case> cases = {
      {"request.blob.metadata.create", {"response.acknowledge", "response.blob.metadata.success"}},
      {"request.blob.analysis.create", {"response.acknowledge", "response.blob.analysis.success"}},
      {"request.blob.sas-url.create", {"response.acknowledge", "response.blob.sas-url.success"}},
      {"request.blob.tier.change", {"response.acknowledge", "response.blob.tier.success"}},
      {"request.blob.copy", {"response.acknowledge", "response.blob.copy.scheduled", "response.blob.created.success"}},
  };
  auto post = [&](const Case& c, const std::string& run) {
    json batch = Fixture(c.fixture);
    batch[0]["id"] = run + "-" + c.fixture;
    batch[0]["data"]["operationContext"] = {{"case", c.fixture}, {"run", run}};
    EXPECT_EQ(Post(batch), 200) << last_body_;
  };
  StartGateway();
  for (const Case& c : cases) {
    post(c, "live");
    EXPECT_EQ(WaitForTypes({{"case", c.fixture}, {"run", "live"}}, c.expected.back()), c.expected) << c.fixture;
  }
  topic_.FailNext(1000000, 503);  // nothing of the second run is published before the kill
  for (const Case& c : cases) post(c, "restart");
  std::this_thread::sleep_for(500ms);
  gateway_->Signal(SIGKILL);
  gateway_->Wait(5s);
  topic_.FailNext(0, 503);
  StartGateway();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fixture);
    json live_ctx = {{"case", c.fixture}, {"run", "live"}};
    json restart_ctx = {{"case", c.fixture}, {"run", "restart"}};
    ASSERT_EQ(WaitForTypes(restart_ctx, c.expected.back()), c.expected);
    auto live = ResponsesFor(live_ctx);
    auto restarted = ResponsesFor(restart_ctx);
    ASSERT_EQ(live.size(), restarted.size());
    for (size_t i = 0; i < live.size(); ++i) {
      EXPECT_EQ(Shape(restarted[i]), Shape(live[i])) << "live: " << live[i].dump() << "\nafter restart: "
                                                     << restarted[i].dump();
      EXPECT_EQ(restarted[i].value("subject", "").empty(), live[i].value("subject", "").empty());
    }
  }
}

TEST_F(EventGridE2eTest, ServerStoppedIsA503) {
  StartGateway();
  server_->Shutdown();
  json batch = Fixture("request.blob.metadata.create");
  EXPECT_EQ(Post(batch), 503) << last_body_;
}

// Azure's own Event Grid SDK (@azure/eventgrid, tests/azure-sdk) sends to
// the gateway over HTTPS, verifying its certificate, without
// allowInsecureConnection: the request is served and its responses reach
// the topic. Without the CA the SDK refuses the certificate and nothing is
// sent.
TEST_F(EventGridE2eTest, AzureEventGridSdkSendsOverHttps) {
  std::string here = __FILE__;  // <repo>/tests/gateway/eventgrid_e2e_test.cc
  const std::string sdk = here.substr(0, here.rfind("/tests/")) + "/tests/azure-sdk";
  ASSERT_TRUE(std::filesystem::exists(sdk + "/node_modules/@azure/eventgrid/package.json"))
      << "@azure/eventgrid is not installed in " << sdk << ": run tools/bootstrap.sh --test";
  auto made = switchboard::testing::MakeTestCertificate(dir_.path());
  ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << made.result.err;
  StartGateway(&made);
  const std::string fixture = std::string(SB_FIXTURES_DIR) + "/eventgrid/request.blob.container.create.json";
  const json ctx = {{"case", "sdk-over-https"}};
  auto send = [&](bool trust) {
    Subprocess::Options o;
    if (trust) {
      o.env["NODE_EXTRA_CA_CERTS"] = made.cert;
    } else {
      o.unset_env.push_back("NODE_EXTRA_CA_CERTS");
    }
    return switchboard::testing::RunCommand({"/usr/bin/env", "node", sdk + "/eventgrid_send.mjs", "--endpoint",
                                            "https://127.0.0.1:" + std::to_string(port_) + "/api/eventgrid",
                                            "--key", kKey, "--file", fixture, "--context", ctx.dump()},
                                           o, 60s);
  };
  auto untrusted = send(false);
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.out << untrusted.err;
  EXPECT_TRUE(ResponsesFor(ctx).empty());
  auto sent = send(true);
  ASSERT_EQ(sent.exit_code, 0) << sent.out << sent.err;
  EXPECT_EQ(sent.out, "sent 1\n");
  EXPECT_EQ(WaitForTypes(ctx, "response.blob.container.create.success"),
            (std::vector<std::string>{"response.acknowledge", "response.blob.container.create.success"}));
}

}  // namespace
}  // namespace switchboard::gateway
