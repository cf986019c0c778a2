#pragma once
// Emits docs/wire-formats.md section 2 status messages to the status queue (default
// `terraform-output`): one message per StatusReport event of switchboardd's
// resourcing log (every workspace and template status change).
//
// Stateless and lossless, like the Event Grid publisher:
//  1. reads its durable cursor from switchboardd (CursorService; never
//     committed = the beginning of the log);
//  2. watches WatchWorkspaces after it;
//  3. puts each status message on the queue, retrying until Azure accepts
//     (a message Azure rejects for good, e.g. larger than 64 KiB, is logged,
//     counted as an error and skipped);
//  4. commits the cursor to the event's sequence only after the put
//     succeeded (events without a status advance it in passing, every
//     `skip_commit_every` events or with the next status).
// Killed at any moment, a restarted emitter resumes from the cursor: nothing
// is lost, and at most the one message put but not yet committed is sent
// twice.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "clients/lib/client.h"
#include "gateway/adapters/storage_queue/hooks.h"
#include "gateway/adapters/storage_queue/queue_client.h"

namespace switchboard::gateway::storage_queue {

struct StatusEmitterOptions {
  std::string queue = "terraform-output";
  // "cursors/<id>".
  std::string cursor = "cursors/gateway-status-queue";
  bool encode_base64 = true;
  int skip_commit_every = 100;
  std::chrono::milliseconds max_backoff{5000};
};

class StatusEmitter {
 public:
  StatusEmitter(const client::Connection* conn, const QueueClient* client, StatusEmitterOptions options, Hooks hooks);
  ~StatusEmitter();

  void Start();
  // Stops watching; a put being retried is abandoned uncommitted.
  void Stop();

  int64_t committed() const { return committed_.load(); }

 private:
  void Loop();
  bool LoadCursor(int64_t* out);
  bool Commit(int64_t sequence);
  enum class PutResult { kPut, kRejected, kStopped };
  PutResult PutWithRetry(const std::string& body);
  void Sleep(std::chrono::milliseconds d);

  const client::Connection* conn_;
  const QueueClient* client_;
  StatusEmitterOptions options_;
  Hooks hooks_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<grpc::ClientContext> watch_ctx_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace switchboard::gateway::storage_queue
