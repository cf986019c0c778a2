#pragma once
// Shared by the two fan-out runs (fanout.cc, fanout_many.cc): the event they
// publish, and waiting for a condition.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
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

}  // namespace switchboard::bench
