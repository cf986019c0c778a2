#pragma once
// Shared by the two fan-out runs (fanout.cc, fanout_many.cc): the event they
// publish, waiting for a condition, the rounds and the latency figures.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "fanout.h"
#include "process.h"
#include "switchboard/v1/notification.grpc.pb.h"

namespace switchboard::bench {

// Publishes bus event `n` (event_uuid "<prefix>-<n>") and returns its log
// sequence.
inline absl::StatusOr<int64_t> PublishFanoutEvent(v1::NotificationService::Stub& stub, const std::string& prefix,
                                                  int n) {
  const std::string uuid = prefix + "-" + std::to_string(n);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::PublishRequest req;
  req.set_request_id(uuid);
  auto* env = req.mutable_envelope();
  env->set_event_uuid(uuid);
  env->set_event_name("bench.fanout");
  env->mutable_event_creation_time()->set_seconds(std::time(nullptr));
  env->set_event_sender_id("sb_bench");
  (*env->mutable_data()->mutable_fields())["n"].set_number_value(n);
  v1::PublishResponse resp;
  grpc::Status s = stub.Publish(&ctx, req, &resp);
  if (!s.ok()) return absl::UnavailableError(std::to_string(s.error_code()) + ": " + s.error_message());
  return resp.sequence();
}

// Waits until `done()` or `seconds` pass; true if done.
template <class F>
bool WaitUntil(F done, double seconds) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

using FanoutClock = std::chrono::steady_clock;

inline double Ms(FanoutClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// One event read by one watcher.
struct Arrival {
  int64_t sequence;
  FanoutClock::time_point at;
};

// The measured rounds: one event at a time from `publish(n)` (its sequence),
// each awaited until `delivered()` has grown by `expected()` watchers (called
// `noun` in errors); fills publish_ms, expected, error and the CPU figures.
// Returns when each sequence was sent.
template <class PublishFn, class DeliveredFn, class ExpectedFn>
std::map<int64_t, FanoutClock::time_point> RunRounds(const FanoutOptions& o, FanoutResult* r, PublishFn publish,
                                                     DeliveredFn delivered, ExpectedFn expected,
                                                     const std::string& noun) {
  std::map<int64_t, FanoutClock::time_point> sent;
  const double server_cpu0 = o.server_pid > 0 ? CpuSeconds(o.server_pid) : 0;
  const double client_cpu0 = SelfCpuSeconds();
  for (int round = 0; round < o.rounds && r->opened > 0; ++round) {
    const long long before = delivered();
    auto t0 = FanoutClock::now();
    auto seq = publish(round + 1);
    auto t1 = FanoutClock::now();
    if (!seq.ok()) {
      r->error = "publish failed: " + std::string(seq.status().message());
      break;
    }
    sent[*seq] = t0;
    r->publish_ms.push_back(Ms(t1 - t0));
    const int want = expected();
    r->expected += want;
    if (!WaitUntil([&] { return delivered() - before >= want; }, 30)) {
      r->error = "round " + std::to_string(round) + ": " + std::to_string(delivered() - before) + " of " +
                 std::to_string(want) + " " + noun + " had the event after 30 s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  if (o.server_pid > 0) r->server_cpu_s = CpuSeconds(o.server_pid) - server_cpu0;
  r->client_cpu_s = SelfCpuSeconds() - client_cpu0;
  return sent;
}

// Latencies of every arrival from its round's send (sorted), the per-round
// maxima and the delivered count.
inline void CollectLatencies(const std::map<int64_t, FanoutClock::time_point>& sent,
                             const std::vector<const std::vector<Arrival>*>& arrivals, FanoutResult* r) {
  std::map<int64_t, double> round_max;
  for (const auto* list : arrivals) {
    for (const Arrival& a : *list) {
      auto it = sent.find(a.sequence);
      if (it == sent.end()) continue;
      double ms = Ms(a.at - it->second);
      r->latencies_ms.push_back(ms);
      round_max[a.sequence] = std::max(round_max[a.sequence], ms);
    }
  }
  for (auto& [seq, ms] : round_max) r->round_max_ms.push_back(ms);
  r->delivered = static_cast<long long>(r->latencies_ms.size());
  std::sort(r->latencies_ms.begin(), r->latencies_ms.end());
}

}  // namespace switchboard::bench
