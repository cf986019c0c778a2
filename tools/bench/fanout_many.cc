// Watch fan-out over WatchMany: the same N watchers as RunFanout, but as N
// watches on M bidirectional streams (one per channel), all from the head.
// Memory and latency are measured the same way, per watch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "fanout.h"
#include "fanout_publish.h"
#include "load.h"
#include "process.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::bench {
namespace {

namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<v1::WatchManyRequest, v1::NotificationWatchManyResponse>;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

absl::StatusOr<int64_t> Publish(v1::NotificationService::Stub& stub, const std::string& run, int n) {
  return PublishFanoutEvent(stub, "bench-fanout-many-" + run, n);
}

struct StreamState {
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream;
  std::vector<std::pair<int64_t, Clock::time_point>> arrivals;  // sequence, per watch id in the message
  int ended = 0;
  std::thread reader;
};

}  // namespace

FanoutResult RunFanoutMany(const FanoutOptions& o) {
  FanoutResult r;
  r.watchers = o.watchers;
  r.channels = std::max(1, o.channels);
  r.rounds = o.rounds;
  auto control = v1::NotificationService::NewStub(NewChannel(o.target, 1000000));
  const std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  auto head = Publish(*control, run, 0);
  if (!head.ok()) {
    r.error = "warm-up publish failed: " + std::string(head.status().message());
    return r;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (o.server_pid > 0) r.rss_before = ResidentBytes(o.server_pid);

  std::vector<std::unique_ptr<v1::NotificationService::Stub>> stubs;
  for (int c = 0; c < r.channels; ++c) {
    auto ch = NewChannel(o.target, c);
    if (!WaitConnected(ch, 10)) {
      r.error = "channel " + std::to_string(c) + " did not connect";
      return r;
    }
    stubs.push_back(v1::NotificationService::NewStub(ch));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (o.server_pid > 0) r.rss_connected = ResidentBytes(o.server_pid);

  std::atomic<long long> delivered{0};
  std::vector<std::unique_ptr<StreamState>> streams;
  auto open_start = Clock::now();
  for (int c = 0; c < r.channels; ++c) {
    auto st = std::make_unique<StreamState>();
    st->stream = stubs[static_cast<size_t>(c)]->WatchMany(&st->ctx);
    for (int i = c; i < o.watchers; i += r.channels) {
      v1::WatchManyRequest add;
      add.mutable_add()->set_watch_id(i + 1);
      add.mutable_add()->set_after_sequence(*head);
      if (!st->stream->Write(add)) {
        r.error = "stream " + std::to_string(c) + " refused a watch";
        break;
      }
      ++r.opened;
    }
    StreamState* raw = st.get();
    st->reader = std::thread([raw, &delivered] {
      v1::NotificationWatchManyResponse m;
      while (raw->stream->Read(&m)) {
        auto now = Clock::now();
        if (m.has_ended()) {
          raw->ended += m.watch_ids_size();
          continue;
        }
        for (int k = 0; k < m.watch_ids_size(); ++k) raw->arrivals.emplace_back(m.event().sequence(), now);
        delivered.fetch_add(m.watch_ids_size());
      }
    });
    streams.push_back(std::move(st));
  }
  r.open_seconds = std::chrono::duration<double>(Clock::now() - open_start).count();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  if (o.server_pid > 0) r.rss_after = ResidentBytes(o.server_pid);

  std::map<int64_t, Clock::time_point> sent;
  const double server_cpu0 = o.server_pid > 0 ? CpuSeconds(o.server_pid) : 0;
  const double client_cpu0 = SelfCpuSeconds();
  for (int round = 0; round < o.rounds && r.opened > 0; ++round) {
    const long long before = delivered.load();
    auto t0 = Clock::now();
    auto seq = Publish(*control, run, round + 1);
    auto t1 = Clock::now();
    if (!seq.ok()) {
      r.error = "publish failed: " + std::string(seq.status().message());
      break;
    }
    sent[*seq] = t0;
    r.publish_ms.push_back(Ms(t1 - t0));
    r.expected += r.opened;
    if (!WaitUntil([&] { return delivered.load() - before >= r.opened; }, 30)) {
      r.error = "round " + std::to_string(round) + ": " + std::to_string(delivered.load() - before) + " of " +
                std::to_string(r.opened) + " watches had the event after 30 s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  if (o.server_pid > 0) r.server_cpu_s = CpuSeconds(o.server_pid) - server_cpu0;
  r.client_cpu_s = SelfCpuSeconds() - client_cpu0;

  for (auto& st : streams) st->ctx.TryCancel();
  std::map<int64_t, double> round_max;
  for (auto& st : streams) {
    st->reader.join();
    grpc::Status s = st->stream->Finish();
    if (s.error_code() == grpc::StatusCode::CANCELLED) {
      ++r.cancelled;
    } else if (r.other_end++ == 0) {
      r.first_other_status = std::to_string(s.error_code()) + ": " + s.error_message();
    }
    for (const auto& [seq, at] : st->arrivals) {
      auto it = sent.find(seq);
      if (it == sent.end()) continue;
      double ms = Ms(at - it->second);
      r.latencies_ms.push_back(ms);
      round_max[seq] = std::max(round_max[seq], ms);
    }
  }
  for (auto& [seq, ms] : round_max) r.round_max_ms.push_back(ms);
  r.delivered = static_cast<long long>(r.latencies_ms.size());
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  return r;
}

}  // namespace switchboard::bench
