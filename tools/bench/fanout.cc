#include "fanout.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "load.h"
#include "process.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::bench {

namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;

double FanoutResult::Percentile(double p) const {
  if (latencies_ms.empty()) return 0;
  return latencies_ms[static_cast<size_t>(p / 100.0 * (latencies_ms.size() - 1))];
}

namespace {

struct Watcher {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientAsyncReader<v1::NotificationEvent>> reader;
  v1::NotificationEvent ev;
  int64_t last_seq = 0;
};

// Tags: index * 4 + op.
enum Op { kStart = 0, kMetadata = 1, kRead = 2, kFinish = 3 };
void* Tag(size_t i, Op op) { return reinterpret_cast<void*>(static_cast<uintptr_t>(i * 4 + op)); }

int64_t Publish(v1::NotificationService::Stub& stub, const std::string& uuid) {
  grpc::ClientContext ctx;
  v1::PublishRequest req;
  auto* env = req.mutable_envelope();
  env->set_event_uuid(uuid);
  env->set_event_name("bench.fanout");
  env->mutable_event_creation_time()->set_seconds(std::time(nullptr));
  env->set_event_sender_id("sb_bench");
  (*env->mutable_data()->mutable_fields())["n"].set_string_value(uuid);
  v1::PublishResponse resp;
  grpc::Status s = stub.Publish(&ctx, req, &resp);
  return s.ok() ? resp.sequence() : -1;
}

}  // namespace

FanoutResult RunFanout(const std::string& target, int n, int channels, int rounds, pid_t server_pid) {
  FanoutResult r;
  r.watchers = n;
  r.rounds = rounds;
  auto control = v1::NotificationService::NewStub(NewChannel(target, 100000));
  std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  int64_t head = Publish(*control, "warmup-" + run);
  if (head < 0) {
    r.error = "warm-up publish failed";
    return r;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  r.rss_before = ResidentBytes(server_pid);

  std::vector<std::unique_ptr<v1::NotificationService::Stub>> stubs;
  for (int c = 0; c < channels; ++c) stubs.push_back(v1::NotificationService::NewStub(NewChannel(target, c)));
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Watcher>> ws(n);
  auto setup_start = Clock::now();
  v1::WatchEventsRequest req;
  req.set_after_sequence(head);
  for (int i = 0; i < n; ++i) {
    ws[i] = std::make_unique<Watcher>();
    ws[i]->last_seq = head;
    ws[i]->reader = stubs[i % channels]->PrepareAsyncWatchEvents(&ws[i]->ctx, req, &cq);
    ws[i]->reader->StartCall(Tag(i, kStart));
  }
  // Wait until every stream has its initial metadata: registered server-side.
  int ready = 0;
  void* tag;
  bool ok;
  while (ready < n) {
    if (cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(60)) != grpc::CompletionQueue::NextStatus::GOT_EVENT) {
      r.error = "timed out opening watchers (" + std::to_string(ready) + " ready)";
      break;
    }
    size_t i = reinterpret_cast<uintptr_t>(tag) / 4;
    Op op = static_cast<Op>(reinterpret_cast<uintptr_t>(tag) % 4);
    if (!ok) {
      r.error = "a watch failed to start";
      break;
    }
    if (op == kStart) ws[i]->reader->ReadInitialMetadata(Tag(i, kMetadata));
    if (op == kMetadata) {
      ++ready;
      ws[i]->reader->Read(&ws[i]->ev, Tag(i, kRead));
    }
  }
  r.setup_seconds = std::chrono::duration<double>(Clock::now() - setup_start).count();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  r.rss_after = ResidentBytes(server_pid);

  for (int round = 0; round < rounds && r.error.empty(); ++round) {
    auto t0 = Clock::now();
    int64_t seq = Publish(*control, "fanout-" + run + "-" + std::to_string(round));
    if (seq < 0) {
      r.error = "publish failed";
      break;
    }
    r.expected += n;
    int got = 0;
    double last = 0;
    while (got < n) {
      if (cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(30)) !=
          grpc::CompletionQueue::NextStatus::GOT_EVENT) {
        r.error = "timed out: " + std::to_string(got) + " of " + std::to_string(n) + " got event " +
                  std::to_string(seq);
        break;
      }
      size_t i = reinterpret_cast<uintptr_t>(tag) / 4;
      if (!ok) {
        r.error = "a watch ended early";
        break;
      }
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (ws[i]->ev.sequence() == seq) {
        ++got;
        ++r.delivered;
        r.latencies_ms.push_back(ms);
        last = ms;
      }
      ws[i]->reader->Read(&ws[i]->ev, Tag(i, kRead));
    }
    r.round_max_ms.push_back(last);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& w : ws) w->ctx.TryCancel();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  return r;
}

}  // namespace switchboard::bench
