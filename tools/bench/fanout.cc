#include "fanout.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "echo.grpc.pb.h"
#include "fanout_common.h"
#include "load.h"
#include "process.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::bench {

namespace v1 = switchboard::v1;
using switchboard::bench::Echo;
using switchboard::bench::EchoMessage;
using Clock = std::chrono::steady_clock;

double FanoutResult::Percentile(double p) const {
  if (latencies_ms.empty()) return 0;
  return latencies_ms[static_cast<size_t>(p / 100.0 * static_cast<double>(latencies_ms.size() - 1))];
}

namespace {

// Each stream has exactly one operation outstanding at a time:
// start -> initial metadata -> read, read, ... -> finish.
enum Op : uintptr_t { kStart = 0, kMetadata = 1, kRead = 2, kFinish = 3 };
void* Tag(size_t i, Op op) { return reinterpret_cast<void*>(static_cast<uintptr_t>(i * 4 + op)); }

template <class P>
struct Watcher {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientAsyncReader<typename P::Event>> reader;
  typename P::Event ev;
  grpc::Status status;
};

// One client thread with its own completion queue, serving every stream
// whose index is congruent to its own modulo the thread count.
struct Receiver {
  grpc::CompletionQueue cq;
  std::vector<Arrival> arrivals;
  int members = 0;
  int finished = 0;
  int cancelled = 0;
  int other = 0;
  std::string first_other;
  std::thread thread;
};

template <class P>
struct Shared {
  std::vector<std::unique_ptr<Watcher<P>>> ws;
  int64_t head = 0;
  std::atomic<int> ready{0};
  std::atomic<int> ended{0};     // streams that ended (before or after we cancelled)
  std::atomic<int> finished{0};  // streams whose final status is in
  std::atomic<long long> delivered{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> give_up{false};
};

template <class P>
void Serve(Shared<P>* sh, Receiver* rcv) {
  void* tag;
  bool ok;
  while (rcv->finished < rcv->members && !sh->give_up.load()) {
    auto st = rcv->cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    if (st == grpc::CompletionQueue::NextStatus::TIMEOUT) continue;
    if (st == grpc::CompletionQueue::NextStatus::SHUTDOWN) break;
    const size_t i = reinterpret_cast<uintptr_t>(tag) / 4;
    const Op op = static_cast<Op>(reinterpret_cast<uintptr_t>(tag) % 4);
    Watcher<P>& w = *sh->ws[i];
    if (op == kFinish) {
      ++rcv->finished;
      sh->finished.fetch_add(1);
      if (w.status.error_code() == grpc::StatusCode::CANCELLED && sh->stopping.load()) {
        ++rcv->cancelled;
      } else if (rcv->other++ == 0) {
        rcv->first_other = std::to_string(w.status.error_code()) + ": " + w.status.error_message();
      }
      continue;
    }
    if (!ok) {  // the stream is over; collect its status
      sh->ended.fetch_add(1);
      w.reader->Finish(&w.status, Tag(i, kFinish));
      continue;
    }
    if (op == kStart) {
      w.reader->ReadInitialMetadata(Tag(i, kMetadata));
    } else {
      if (op == kMetadata) {
        sh->ready.fetch_add(1);
      } else if (int64_t seq = P::Sequence(w.ev); seq > sh->head) {
        rcv->arrivals.push_back({seq, Clock::now()});
        sh->delivered.fetch_add(1);
      }
      w.reader->Read(&w.ev, Tag(i, kRead));
    }
  }
}

// switchboardd: WatchEvents streams; an event is a durable Publish.
struct SwitchboardProtocol {
  using Stub = v1::NotificationService::Stub;
  using Event = v1::NotificationEvent;
  static std::unique_ptr<Stub> NewStub(const std::shared_ptr<grpc::Channel>& ch) {
    return v1::NotificationService::NewStub(ch);
  }
  static std::unique_ptr<grpc::ClientAsyncReader<Event>> Prepare(Stub& stub, grpc::ClientContext* ctx, int64_t head,
                                                                 grpc::CompletionQueue* cq) {
    v1::WatchEventsRequest req;
    req.set_after_sequence(head);
    return stub.PrepareAsyncWatchEvents(ctx, req, cq);
  }
  static int64_t Sequence(const Event& ev) { return ev.sequence(); }
  // Publishes event `n` of run `run`; returns its sequence.
  static absl::StatusOr<int64_t> Publish(Stub& stub, const std::string& run, int n) {
    return PublishFanoutEvent(stub, "bench-fanout-" + run, n);
  }
};

// sb_echo_server: Hold streams; an event is a Broadcast (nothing durable).
struct EchoProtocol {
  using Stub = Echo::Stub;
  using Event = EchoMessage;
  static std::unique_ptr<Stub> NewStub(const std::shared_ptr<grpc::Channel>& ch) { return Echo::NewStub(ch); }
  static std::unique_ptr<grpc::ClientAsyncReader<Event>> Prepare(Stub& stub, grpc::ClientContext* ctx, int64_t,
                                                                 grpc::CompletionQueue* cq) {
    return stub.PrepareAsyncHold(ctx, EchoMessage(), cq);
  }
  static int64_t Sequence(const Event& ev) {
    int64_t n = 0;
    return absl::SimpleAtoi(ev.payload(), &n) ? n : -1;
  }
  // Event n has sequence n (the warm-up is 0).
  static absl::StatusOr<int64_t> Publish(Stub& stub, const std::string&, int n) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    EchoMessage req, resp;
    req.set_payload(std::to_string(n));
    grpc::Status s = stub.Broadcast(&ctx, req, &resp);
    if (!s.ok()) return absl::UnavailableError(std::to_string(s.error_code()) + ": " + s.error_message());
    return n;
  }
};


template <class P>
FanoutResult RunFanoutWith(const FanoutOptions& o) {
  FanoutResult r;
  r.watchers = o.watchers;
  r.channels = std::max(1, o.channels);
  r.rounds = o.rounds;
  const int nthreads = std::max(1, o.threads);
  auto control_channel = NewChannel(o.target, 1000000);
  auto control = P::NewStub(control_channel);
  const std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());

  // The head: publish one warm-up event and watch from its sequence.
  auto head = P::Publish(*control, run, 0);
  if (!head.ok()) {
    r.error = "warm-up publish failed: " + std::string(head.status().message());
    return r;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (o.server_pid > 0) r.rss_before = ResidentBytes(o.server_pid);

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<typename P::Stub>> stubs;
  for (int c = 0; c < r.channels; ++c) {
    channels.push_back(NewChannel(o.target, c));
    if (!WaitConnected(channels.back(), 10)) {
      r.error = "channel " + std::to_string(c) + " did not connect";
      return r;
    }
    stubs.push_back(P::NewStub(channels.back()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (o.server_pid > 0) r.rss_connected = ResidentBytes(o.server_pid);

  Shared<P> sh;
  sh.head = *head;
  sh.ws.resize(o.watchers);
  for (auto& w : sh.ws) w = std::make_unique<Watcher<P>>();
  std::vector<std::unique_ptr<Receiver>> rcvs;
  for (int t = 0; t < nthreads; ++t) {
    rcvs.push_back(std::make_unique<Receiver>());
    rcvs.back()->members = o.watchers / nthreads + (t < o.watchers % nthreads ? 1 : 0);
    rcvs.back()->arrivals.reserve(static_cast<size_t>(rcvs.back()->members) * (o.rounds + 1));
  }
  for (auto& rcv : rcvs) rcv->thread = std::thread(Serve<P>, &sh, rcv.get());

  // Open every stream; "open" means its initial metadata has arrived, which
  // the server sends once the watch is registered.
  auto open_start = Clock::now();
  for (int i = 0; i < o.watchers; ++i) {
    Watcher<P>& w = *sh.ws[i];
    w.reader = P::Prepare(*stubs[i % r.channels], &w.ctx, *head, &rcvs[i % nthreads]->cq);
    w.reader->StartCall(Tag(i, kStart));
  }
  bool all_open = WaitUntil([&] { return sh.ready.load() + sh.ended.load() >= o.watchers; }, 120);
  r.open_seconds = std::chrono::duration<double>(Clock::now() - open_start).count();
  r.opened = sh.ready.load();
  if (!all_open || r.opened < o.watchers) {
    r.error = std::to_string(r.opened) + " of " + std::to_string(o.watchers) + " streams opened (" +
              std::to_string(sh.ended.load()) + " ended)";
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  if (o.server_pid > 0) r.rss_after = ResidentBytes(o.server_pid);

  // One event at a time; wait until every open stream has it.
  auto sent = RunRounds(
      o, &r, [&](int n) { return P::Publish(*control, run, n); }, [&] { return sh.delivered.load(); },
      [&] { return r.opened - sh.ended.load(); }, "watchers");

  // Cancel every stream and collect its status (CANCELLED expected).
  sh.stopping.store(true);
  for (auto& w : sh.ws) w->ctx.TryCancel();
  bool drained = WaitUntil([&] { return sh.finished.load() >= o.watchers; }, 60);
  if (!drained) sh.give_up.store(true);
  for (auto& rcv : rcvs) rcv->thread.join();
  for (auto& rcv : rcvs) {
    rcv->cq.Shutdown();
    void* tag;
    bool ok;
    while (rcv->cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(5)) ==
           grpc::CompletionQueue::NextStatus::GOT_EVENT) {
    }
    r.cancelled += rcv->cancelled;
    r.other_end += rcv->other;
    if (r.first_other_status.empty()) r.first_other_status = rcv->first_other;
  }

  std::vector<const std::vector<Arrival>*> arrivals;
  for (auto& rcv : rcvs) arrivals.push_back(&rcv->arrivals);
  CollectLatencies(sent, arrivals, &r);
  if (!drained) {
    if (r.error.empty()) r.error = "streams did not all end within 60 s of cancelling";
    // Operations may still be pending: leak rather than destroy them.
    for (auto& w : sh.ws) w.release();
    for (auto& rcv : rcvs) rcv.release();
  } else {
    sh.ws.clear();  // the calls go before their completion queues
  }
  return r;
}

}  // namespace

FanoutResult RunFanout(const FanoutOptions& o) {
  return o.echo_baseline ? RunFanoutWith<EchoProtocol>(o) : RunFanoutWith<SwitchboardProtocol>(o);
}

}  // namespace switchboard::bench
