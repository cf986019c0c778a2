#pragma once
// The clients of the chaos tests, against a ReplicaProcs: publishers,
// media submitters and watchers, each retrying or resuming on another
// replica when one fails, as a client of a replicated switchboardd does.
// They record what they were told, for the checks in chaos_test.cc.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "switchboard/v1/notification.grpc.pb.h"
#include "tests/core/replica_procs.h"

namespace switchboard::testing {

// Calls `attempt(replica)` from replica `first` on, moving to the next one
// after each failure that a retry can mend (UNAVAILABLE, DEADLINE_EXCEEDED,
// ...), until one succeeds, one fails for good, or `give_up` passes.
// Counts the attempts in *attempts when given.
template <class Attempt>
grpc::Status OnAnyReplica(int replicas, int first, absl::Time give_up, Attempt attempt, int* attempts = nullptr);

// Whether a failed call may succeed on a retry with the same request_id.
bool Retryable(const grpc::Status& s);

// What every client thread shares: the replicas, a stop flag, and the
// failures that end the test (a non-retryable error, a request given up).
struct ChaosClients {
  ReplicaProcs* procs = nullptr;
  // Unique to the run: a part of every request id and event uuid.
  uint32_t run = 0;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> errors;
  void Error(std::string e);
  std::vector<std::string> TakeErrors();
};

// Threads that publish bus events with unique uuids (the request_id) until
// Stop, each retried on the next replica until acknowledged.
class Publishers {
 public:
  Publishers(ChaosClients* c, int threads) : c_(c), threads_(threads) {}
  ~Publishers() { Join(); }
  void Start();
  void Join();
  struct Ack {
    int64_t sequence = 0;
    int replica = -1;  // the one that answered first
    int attempts = 0;
  };
  // uuid -> its first acknowledgement.
  std::map<std::string, Ack> acked() const;
  int retried() const { return retried_.load(); }
  static std::string Uuid(uint32_t run, int thread, int i);

 private:
  void Loop(int t);
  ChaosClients* c_;
  int threads_;
  std::vector<std::thread> running_;
  mutable std::mutex mu_;
  std::map<std::string, Ack> acked_;
  std::atomic<int> retried_{0};
};

// One thread that submits media operations on Azurite with
// return_when_accepted, so that their work runs as leased jobs after the
// answer: copies of one source blob to a new blob each time, and access
// changes of the container. Retried on the next replica until acknowledged.
class MediaLoad {
 public:
  MediaLoad(ChaosClients* c, std::string container, absl::Duration every)
      : c_(c), container_(std::move(container)), every_(every) {}
  ~MediaLoad() { Join(); }
  void Start();
  void Join();
  // Submits one operation now (the SIGSTOP case uses it alone); returns the
  // operation's name, or "" after recording an error.
  std::string SubmitOne(int replica_first);
  // `count` copies in one SubmitBatch call to `replica` alone (no retry
  // elsewhere), each answered once ACCEPTED; their names, in order ("" for
  // one refused, after recording an error).
  std::vector<std::string> SubmitBatch(int replica, int count);
  // request_id -> operation name, as first acknowledged.
  std::map<std::string, std::string> acked() const;
  static std::string BlobUri(const std::string& container, const std::string& blob);

 private:
  void Loop();
  ChaosClients* c_;
  std::string container_;
  absl::Duration every_;
  std::thread running_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> acked_;
  std::atomic<int> n_{0};
};

// One watcher per replica: WatchEvents on the notification service from
// sequence 0, resumed after the last sequence seen on a new stream, on the
// next replica, whenever the stream ends.
class Watchers {
 public:
  explicit Watchers(ChaosClients* c) : c_(c) {}
  ~Watchers() { Join(); }
  void Start();
  // Waits (until `deadline`) for every watcher to have seen `head`, then
  // ends their streams. False when one had not.
  bool WaitFor(int64_t head, absl::Time deadline);
  void Join();
  struct Seen {
    std::vector<int64_t> sequences;  // every event received, in order, repeats included
    int64_t last = 0;  // the highest sequence received
    int resumes = 0;
    // Resumes refused OUT_OF_RANGE: the new replica had not yet delivered
    // what the old one had (tried again).
    int out_of_range = 0;
    std::vector<int> replicas;  // the replica of each stream, in order
    // How each stream that broke ended (its status, and the last sequence
    // it had delivered), in order.
    std::vector<std::string> endings;
  };
  Seen seen(int watcher) const;
  int size() const { return static_cast<int>(watchers_.size()); }

 private:
  struct Watcher {
    std::thread thread;
    mutable std::mutex mu;
    Seen seen;
    grpc::ClientContext* ctx = nullptr;  // the open stream's
    bool done = false;
  };
  void Loop(Watcher* w, int home);
  ChaosClients* c_;
  std::vector<std::unique_ptr<Watcher>> watchers_;
};

// --- template implementation ---

template <class Attempt>
grpc::Status OnAnyReplica(int replicas, int first, absl::Time give_up, Attempt attempt, int* attempts) {
  grpc::Status last;
  for (int n = 0;; ++n) {
    const int r = (first + n) % replicas;
    last = attempt(r);
    if (attempts) ++*attempts;
    if (last.ok() || !Retryable(last)) return last;
    if (absl::Now() >= give_up) return last;
    // After a whole round of failures, wait a little (a restart, a failover).
    if (n % replicas == replicas - 1) absl::SleepFor(absl::Milliseconds(200));
  }
}

}  // namespace switchboard::testing
