// The watch state machine (server/rpc/watch_reactor.h) shared by WatchEvents
// and WatchMany, through a real gRPC channel against a store, a hub and the
// two stream kinds alone, so that the hub can be looked at: a cancel while a
// write is pending ends and releases the stream, replay from the store then
// live with a watch added behind, a slow reader is ended (never buffered),
// the hub wakes a WatchMany stream only for its watches' resources, and the
// raw WatchMany bytes parse as each service's response.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "common/auth.h"
#include "server/core/event_hub.h"
#include "server/core/store.h"
#include "server/rpc/guard.h"
#include "server/rpc/multi_watch.h"
#include "server/rpc/watch_stream.h"
#include "server/rpc/watch_wire.h"
#include "switchboard/v1/media.pb.h"
#include "switchboard/v1/notification.grpc.pb.h"
#include "switchboard/v1/resourcing.pb.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using testing::TempDir;
using Clock = std::chrono::steady_clock;
using ManyStream = grpc::ClientReaderWriter<v1::WatchManyRequest, v1::NotificationWatchManyResponse>;

using WatchBase = v1::NotificationService::WithRawCallbackMethod_WatchEvents<v1::NotificationService::CallbackService>;

// The two watch methods of the notification service and nothing else.
class WatchOnly final : public WatchBase {
 public:
  WatchOnly(const rpc::Guard* guard, core::EventHub* hub) : guard_(guard), hub_(hub) {
    MarkMethodRawCallback(rpc::WatchManyIndex(v1::NotificationService::service_full_name()),
                          rpc::WatchManyHandler<v1::NotificationWatchManyResponse>(guard, hub, "notification"));
  }
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* raw) override {
    return rpc::StartWatch<v1::WatchEventsRequest>(ctx, *guard_, hub_, "notification", raw,
                                                   [](const auto&, core::WatchFilter*) { return absl::OkStatus(); });
  }

 private:
  const rpc::Guard* guard_;
  core::EventHub* hub_;
};

struct Harness {
  explicit Harness(core::EventHub::Options options = {}) {
    auto s = core::OpenSqliteStore({dir.path() + "/switchboard.db"});
    EXPECT_TRUE(s.ok()) << s.status();
    store = std::move(*s);
    hub = std::make_unique<core::EventHub>(store.get(), options);
    store->SetCommitListener([h = hub.get()](auto events) { h->OnCommitted(std::move(events)); });
    auth = TokenAuthenticator::AllowLocal();
    guard = std::make_unique<rpc::Guard>(auth.get(), 4 << 20);
    service = std::make_unique<WatchOnly>(guard.get(), hub.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service.get());
    server = builder.BuildAndStart();
    EXPECT_NE(port, 0);
    address = "127.0.0.1:" + std::to_string(port);
    channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    stub = v1::NotificationService::NewStub(channel);
  }
  ~Harness() {
    hub->Close();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server->Wait();
    store->Close();
    hub.reset();
  }

  // Commits `n` bus events about `resource(i)`, each carrying `blob` bytes;
  // returns the last sequence.
  int64_t Commit(int n, const std::function<std::string(int)>& resource, size_t blob = 0) {
    int64_t last = 0;
    for (int i = 0; i < n; ++i) {
      v1::NotificationEvent ev;
      ev.mutable_bus_event()->mutable_envelope()->set_event_uuid(resource(i));
      if (blob > 0) ev.mutable_bus_event()->mutable_envelope()->set_event_name(std::string(blob, 'x'));
      core::Mutation m;
      m.events.push_back({"notification", "bus_event", resource(i), "", ev.SerializeAsString()});
      m.make_response = [](int64_t) { return std::string(); };
      auto r = store->Commit(std::move(m));
      EXPECT_TRUE(r.ok()) << r.status();
      last = r.ok() ? r->last_sequence : last;
    }
    return last;
  }

  // Polls `done` for up to 10 s.
  static bool Eventually(const std::function<bool()>& done) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  TempDir dir;
  std::unique_ptr<core::Store> store;
  std::unique_ptr<core::EventHub> hub;
  std::unique_ptr<TokenAuthenticator> auth;
  std::unique_ptr<rpc::Guard> guard;
  std::unique_ptr<WatchOnly> service;
  std::unique_ptr<grpc::Server> server;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::NotificationService::Stub> stub;
};

std::string Same(int) { return "busEvents/same"; }

void Add(ManyStream& s, int64_t id, int64_t after, const std::string& resource = "") {
  v1::WatchManyRequest req;
  req.mutable_add()->set_watch_id(id);
  req.mutable_add()->set_after_sequence(after);
  req.mutable_add()->set_resource(resource);
  ASSERT_TRUE(s.Write(req));
}

TEST(WatchMachine, ACancelWhileAWriteIsPendingEndsAndReleasesTheStream) {
  Harness h;
  // Without BDP probing the client's window stays at HTTP/2's 64 KiB: a
  // client that reads nothing leaves the server's write pending.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stub = v1::NotificationService::NewStub(
      grpc::CreateCustomChannel(h.address, grpc::InsecureChannelCredentials(), args));
  for (bool many : {false, true}) {
    SCOPED_TRACE(many ? "WatchMany" : "WatchEvents");
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::NotificationEvent>> reader;
    std::unique_ptr<ManyStream> stream;
    const int64_t from = h.hub->head();
    if (many) {
      stream = stub->WatchMany(&ctx);
      Add(*stream, 1, from);
    } else {
      v1::WatchEventsRequest req;
      req.set_after_sequence(from);
      reader = stub->WatchEvents(&ctx, req);
    }
    ASSERT_TRUE(Harness::Eventually([&] { return h.hub->watchers() == 1 && h.hub->stats().parked == 1; }));
    // Far more than flow control lets the server push into a client that
    // reads nothing: a write stays pending, and the stream never parks again.
    h.Commit(40, Same, 64 * 1024);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(h.hub->stats().parked, 0) << "the stream sent everything: no write is pending";
    ctx.TryCancel();
    grpc::Status s = many ? stream->Finish() : reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << s.error_message();
    EXPECT_TRUE(Harness::Eventually([&] { return h.hub->watchers() == 0; }))
        << "the cancelled stream never finished: its pending write was never completed";
    EXPECT_TRUE(Harness::Eventually([&] { return h.hub->stats().listeners == 0; }))
        << "the cancelled stream is still registered with the hub";
  }
}

TEST(WatchMachine, WatchManyReplaysFromTheStoreThenGoesLiveAndWalksBackForAWatchAddedBehind) {
  core::EventHub::Options options;
  options.ring_capacity = 16;  // replay goes through the store
  Harness h(options);
  auto resource = [](int i) { return "busEvents/r" + std::to_string(i % 10); };
  h.Commit(600, resource);
  grpc::ClientContext ctx;
  auto stream = h.stub->WatchMany(&ctx);
  Add(*stream, 1, 0);
  Add(*stream, 2, 0, "busEvents/r7");
  std::thread writer([&] { h.Commit(200, [&](int i) { return resource(600 + i); }); });
  std::map<int64_t, std::vector<int64_t>> got;
  v1::NotificationWatchManyResponse m;
  bool added = false;
  auto done = [&] { return got[1].size() >= 800 && got[2].size() >= 80 && got[3].size() >= 700; };
  while (!done() && stream->Read(&m)) {
    ASSERT_TRUE(m.has_event()) << m.ended().message();
    for (int64_t id : m.watch_ids()) got[id].push_back(m.event().sequence());
    if (!added && got[1].size() == 300) {
      Add(*stream, 3, 100);  // behind the stream's position
      added = true;
    }
  }
  writer.join();
  std::vector<int64_t> all, r7, from100;
  for (int64_t seq = 1; seq <= 800; ++seq) {
    all.push_back(seq);
    if ((seq - 1) % 10 == 7) r7.push_back(seq);
    if (seq > 100) from100.push_back(seq);
  }
  EXPECT_EQ(got[1], all);
  EXPECT_EQ(got[2], r7);
  EXPECT_EQ(got[3], from100);
  EXPECT_GT(h.hub->stats().store_reads, 0) << "the replay was meant to come from the store";
  ctx.TryCancel();
}

TEST(WatchMachine, ASlowWatchManyReaderIsEndedNotBuffered) {
  core::EventHub::Options options;
  options.max_lag = 50;
  options.ring_capacity = 64;
  Harness h(options);
  h.Commit(1, Same);
  grpc::ClientContext ctx;
  auto stream = h.stub->WatchMany(&ctx);
  Add(*stream, 1, 0);
  v1::NotificationWatchManyResponse m;
  ASSERT_TRUE(stream->Read(&m));  // live now, at sequence 1
  h.Commit(400, Same, 48 * 1024);
  int64_t last = m.event().sequence();
  while (stream->Read(&m)) {
    ASSERT_TRUE(m.has_event());
    ASSERT_EQ(m.event().sequence(), last + 1) << "no gap before the end";
    last = m.event().sequence();
  }
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_LT(last, 401) << "a slow reader must be ended, not given everything";
}

TEST(WatchMachine, AWatchManyStreamIsWokenOnlyForItsWatchesResources) {
  Harness h;
  grpc::ClientContext ctx;
  auto stream = h.stub->WatchMany(&ctx);
  Add(*stream, 1, 0, "busEvents/mine");
  ASSERT_TRUE(Harness::Eventually([&] { return h.hub->stats().parked == 1; }));
  const int64_t before = h.hub->stats().wakes;
  const int64_t others = h.Commit(50, [](int i) { return "busEvents/other-" + std::to_string(i); });
  ASSERT_TRUE(Harness::Eventually([&] { return h.hub->stats().dispatched_through >= others; }));
  EXPECT_EQ(h.hub->stats().wakes, before) << "events about other resources woke the stream";
  const int64_t mine = h.Commit(1, [](int) { return std::string("busEvents/mine"); });
  v1::NotificationWatchManyResponse m;
  ASSERT_TRUE(stream->Read(&m));
  EXPECT_EQ(m.event().sequence(), mine);
  EXPECT_EQ(h.hub->stats().wakes, before + 1);
  ctx.TryCancel();
}

// Each service's event has sequence (1) and request_id (3).
template <class Resp>
void ExpectParses(const std::vector<int64_t>& ids) {
  std::decay_t<decltype(Resp().event())> ev;
  ev.set_sequence(300);  // a two-byte varint
  ev.set_request_id(std::string(200, 'u'));
  auto record = std::make_shared<core::EventRecord>();
  record->sequence = 300;
  record->data = ev.SerializeAsString();
  grpc::ByteBuffer bytes = rpc::WatchManyEventBytes(ids, record);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(bytes.Dump(&slices).ok());
  std::string flat;
  for (const auto& s : slices) flat.append(reinterpret_cast<const char*>(s.begin()), s.size());
  Resp r;
  ASSERT_TRUE(r.ParseFromString(flat)) << Resp::descriptor()->full_name();
  EXPECT_EQ(std::vector<int64_t>(r.watch_ids().begin(), r.watch_ids().end()), ids);
  ASSERT_TRUE(r.has_event());
  EXPECT_EQ(r.event().sequence(), 300);
  EXPECT_EQ(r.event().request_id(), std::string(200, 'u'));
  EXPECT_FALSE(r.has_ended());
  // The same bytes as the protobuf library would write.
  Resp expected;
  for (int64_t id : ids) expected.add_watch_ids(id);
  *expected.mutable_event() = ev;
  EXPECT_EQ(flat, expected.SerializeAsString());
}

TEST(WatchMachine, RawWatchManyBytesParseAsEachServicesResponse) {
  const std::vector<int64_t> ids = {1, 127, 128, 1LL << 40};
  ExpectParses<v1::NotificationWatchManyResponse>(ids);
  ExpectParses<v1::MediaWatchManyResponse>(ids);
  ExpectParses<v1::ResourcingWatchManyResponse>(ids);
}

}  // namespace
}  // namespace switchboard
