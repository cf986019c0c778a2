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
#include "fanout_common.h"
#include "load.h"
#include "process.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::bench {
namespace {

namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<v1::WatchManyRequest, v1::NotificationWatchManyResponse>;

absl::StatusOr<int64_t> Publish(v1::NotificationService::Stub& stub, const std::string& run, int n) {
  return PublishFanoutEvent(stub, "bench-fanout-many-" + run, n);
}

struct StreamState {
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream;
  std::vector<Arrival> arrivals;  // one per watch id in each message
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
        for (int k = 0; k < m.watch_ids_size(); ++k) raw->arrivals.push_back({m.event().sequence(), now});
        delivered.fetch_add(m.watch_ids_size());
      }
    });
    streams.push_back(std::move(st));
  }
  r.open_seconds = std::chrono::duration<double>(Clock::now() - open_start).count();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  if (o.server_pid > 0) r.rss_after = ResidentBytes(o.server_pid);

  auto sent = RunRounds(
      o, &r, [&](int n) { return Publish(*control, run, n); }, [&] { return delivered.load(); },
      [&] { return r.opened; }, "watches");

  for (auto& st : streams) st->ctx.TryCancel();
  std::vector<const std::vector<Arrival>*> arrivals;
  for (auto& st : streams) {
    st->reader.join();
    grpc::Status s = st->stream->Finish();
    if (s.error_code() == grpc::StatusCode::CANCELLED) {
      ++r.cancelled;
    } else if (r.other_end++ == 0) {
      r.first_other_status = std::to_string(s.error_code()) + ": " + s.error_message();
    }
    arrivals.push_back(&st->arrivals);
  }
  CollectLatencies(sent, arrivals, &r);
  return r;
}

}  // namespace switchboard::bench
