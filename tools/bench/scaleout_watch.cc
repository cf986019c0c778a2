// Watch latency across replicas (scaleout.h): WatchEvents from the head on
// replica B while publishers on replica A publish at a steady rate. Each
// event's latency runs from the moment A's Publish returned OK (the commit
// is durable and A delivered it) until B's watcher read it; from the send
// too.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "load.h"
#include "scaleout.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::bench {
namespace {

namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

v1::PublishRequest Request(const std::string& uuid) {
  v1::PublishRequest req;
  req.set_request_id(uuid);
  auto* env = req.mutable_envelope();
  env->set_event_uuid(uuid);
  env->set_event_name("bench.scaleout.watch");
  env->mutable_event_creation_time()->set_seconds(1700000000);
  env->set_event_sender_id("sb_bench_scaleout");
  (*env->mutable_data()->mutable_fields())["uuid"].set_string_value(uuid);
  return req;
}

bool Publish(v1::NotificationService::Stub& stub, const std::string& uuid, std::string* error) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::PublishResponse resp;
  grpc::Status s = stub.Publish(&ctx, Request(uuid), &resp);
  if (!s.ok() && error->empty()) *error = std::to_string(s.error_code()) + ": " + s.error_message();
  return s.ok();
}

}  // namespace

double WatchResult::Percentile(const std::vector<double>& v, double p) const {
  if (v.empty()) return 0;
  return v[static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
}

WatchResult RunWatchLatency(const std::string& publisher, const std::string& watcher_grpc,
                            const std::string& watcher_http, double rate_per_s, double seconds, double drain_s) {
  WatchResult out;
  const int n = std::max(1, static_cast<int>(rate_per_s * seconds));
  const std::string prefix = "watch-" + std::to_string(NowNs()) + "-";
  const double head = MetricValue(HttpGet(watcher_http, "/metrics"), "switchboard_log_head_sequence");
  if (head < 0) {
    out.error = "no switchboard_log_head_sequence on the watcher's /metrics (" + watcher_http + ")";
    return out;
  }
  std::vector<std::atomic<int64_t>> sent(n), returned(n), arrived(n);
  for (int i = 0; i < n; ++i) sent[i] = returned[i] = arrived[i] = 0;
  std::atomic<bool> warm{false};

  // The watcher: one stream from the head, read on a thread of its own.
  auto wstub = v1::NotificationService::NewStub(NewChannel(watcher_grpc, 1));
  grpc::ClientContext wctx;
  v1::WatchEventsRequest wreq;
  wreq.set_after_sequence(static_cast<int64_t>(head));
  auto reader = wstub->WatchEvents(&wctx, wreq);
  std::atomic<int> received{0};
  std::thread reading([&] {
    v1::NotificationEvent ev;
    while (reader->Read(&ev)) {
      const int64_t now = NowNs();
      const std::string& uuid = ev.bus_event().envelope().event_uuid();
      if (uuid.rfind(prefix, 0) != 0) continue;
      const std::string tail = uuid.substr(prefix.size());
      if (tail.rfind("warm", 0) == 0) {
        warm = true;
        continue;
      }
      const int i = std::stoi(tail);
      if (i >= 0 && i < n && arrived[i].load() == 0) {
        arrived[i] = now;
        ++received;
      }
    }
  });

  // Warm-up, on A: until B's stream has one event, so that the stream is
  // open and both channels connected before the clock starts.
  auto pstub = v1::NotificationService::NewStub(NewChannel(publisher, 2));
  std::string error;
  for (int w = 0; w < 100 && !warm; ++w) {
    if (!Publish(*pstub, prefix + "warm" + std::to_string(w), &error)) break;
    for (int k = 0; k < 20 && !warm; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!warm) {
    out.error = "the watcher on " + watcher_grpc + " saw no warm-up event" + (error.empty() ? "" : " (" + error + ")");
  } else {
    // Publishers: event i is due at start + i / rate; four threads so that a
    // slow call does not hold the next ones back.
    constexpr int kThreads = 4;
    const int64_t start = NowNs() + 10'000'000;
    std::vector<std::thread> pubs;
    std::vector<std::string> errors(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      pubs.emplace_back([&, t] {
        auto stub = v1::NotificationService::NewStub(NewChannel(publisher, 10 + t));
        for (int i = t; i < n; i += kThreads) {
          const int64_t due = start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate_per_s);
          const int64_t wait = due - NowNs();
          if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
          sent[i] = NowNs();
          if (Publish(*stub, prefix + std::to_string(i), &errors[t])) returned[i] = NowNs();
        }
      });
    }
    for (auto& p : pubs) p.join();
    for (const auto& e : errors) {
      if (out.error.empty() && !e.empty()) out.error = "Publish on " + publisher + " failed: " + e;
    }
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += returned[i] != 0;
    const auto deadline = Clock::now() + std::chrono::duration<double>(drain_s);
    while (received < ok && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    out.published = ok;
  }
  wctx.TryCancel();
  reading.join();
  reader->Finish();
  for (int i = 0; i < n; ++i) {
    if (returned[i] == 0 || arrived[i] == 0) continue;
    ++out.received;
    if (arrived[i] < returned[i]) ++out.early;
    out.from_return_ms.push_back(static_cast<double>(arrived[i] - returned[i]) / 1e6);
    out.from_send_ms.push_back(static_cast<double>(arrived[i] - sent[i]) / 1e6);
  }
  std::sort(out.from_return_ms.begin(), out.from_return_ms.end());
  std::sort(out.from_send_ms.begin(), out.from_send_ms.end());
  return out;
}

}  // namespace switchboard::bench
