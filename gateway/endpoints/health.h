#pragma once
// GET /healthz: asks switchboardd's grpc.health.v1.Health service. 200 "ok"
// when it answers SERVING, 503 with the reason otherwise.
//
// The check is asynchronous (gRPC's callback API) with a short deadline, so
// /healthz is answered from the HTTP I/O thread and never waits for a
// handler thread: while switchboardd stalls, it answers 503 within
// `timeout`, however many requests are stuck on it.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "clients/lib/client.h"
#include "common/http/server.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace switchboard::gateway {

class HealthEndpoint {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{500};

  explicit HealthEndpoint(const client::Connection* conn, std::chrono::milliseconds timeout = kDefaultTimeout);
  // Waits for checks in flight (each ends by its deadline).
  ~HealthEndpoint();

  // Starts one check; `done` runs once, on a gRPC thread, with the answer.
  void CheckAsync(std::function<void(httpserver::Response)> done);
  // Waits until no check is in flight.
  void Wait();

 private:
  const client::Connection* conn_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;
};

}  // namespace switchboard::gateway
