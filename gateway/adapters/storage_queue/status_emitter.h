#pragma once
// Emits docs/wire-formats.md section 2 status messages to the status queue (default
// `terraform-output`): one message per StatusReport event of switchboardd's
// resourcing log (every workspace and template status change).
//
// Stateless and lossless, like the Event Grid publisher:
//  0. with a cursor lease (lease_ttl > 0, the default), takes turns with the
//     other gateways emitting from the same cursor, as the publisher does
//     (CursorLeaseHolder, gateway/cursor_lease_holder.h): it acquires the
//     lease before it reads anything and stands by while another gateway
//     holds it; holding it, it renews it every third of the ttl, commits
//     with its token, and checks that the lease has not run out before each
//     put; when the lease is lost it stops emitting and stands by again, to
//     resume from the cursor when it gets it back; a clean Stop hands it
//     back;
//  1. reads its durable cursor from switchboardd (with a lease, the sequence
//     the lease came with; otherwise CursorService.GetCursor: never
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
// twice; so is the one put by a holder that stalled past the ttl before its
// commit was refused.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "clients/lib/client.h"
#include "gateway/cursor_lease_holder.h"
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
  // The cursor lease's ttl; 0: no lease (every emitter of the cursor emits
  // every status). Renewed every third of it.
  std::chrono::milliseconds lease_ttl{10000};
  // While another holder has the lease: how often to try again.
  std::chrono::milliseconds standby_retry{2000};
  // The lease's holder id; empty: NewLeaseHolder() (unique per process).
  std::string lease_holder;
};

class StatusEmitter {
 public:
  StatusEmitter(const client::Connection* conn, const QueueClient* client, StatusEmitterOptions options, Hooks hooks);
  ~StatusEmitter();

  void Start();
  // Stops watching; a put being retried is abandoned uncommitted. Commits a
  // message just put (one try), then hands the lease back.
  void Stop();
  // Stops as a crash would (for tests): no last commit, and the lease is
  // left to expire.
  void Abandon();

  int64_t committed() const { return committed_.load(); }
  // True while this emitter holds the cursor's lease (always false without
  // a lease).
  bool lease_held() const { return lease_.held(); }
  const std::string& lease_holder() const { return lease_.holder(); }

 private:
  // The emitter's thread: stands by, acquires, runs a term; until Stop.
  void Loop();
  // Emits from `start` until Stop or the lease is lost.
  void RunTerm(int64_t start);
  void Emit(int64_t start);
  // Ends the term: the lease is gone (CursorLeaseHolder's on_lost).
  void LeaseLost();
  // Commits `sequence` (CursorLeaseHolder::Commit); false when not.
  bool Commit(int64_t sequence);
  enum class PutResult { kPut, kRejected, kStopped };
  PutResult PutWithRetry(const std::string& body);
  // Waits `d`, or until `flag` is true.
  void Sleep(std::chrono::milliseconds d, const std::atomic<bool>& flag);

  const client::Connection* conn_;
  const QueueClient* client_;
  StatusEmitterOptions options_;
  Hooks hooks_;
  CursorLeaseHolder lease_;
  // Stop (or Abandon) was called.
  std::atomic<bool> stop_{false};
  std::atomic<bool> abandon_{false};
  // The current term ends: stop_, or the lease lost. Set under mu_.
  std::atomic<bool> halt_{false};
  std::atomic<int64_t> committed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<grpc::ClientContext> watch_ctx_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace switchboard::gateway::storage_queue
