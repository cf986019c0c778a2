#pragma once
// A lossless consumer of one Azure Storage Queue, for any handler:
//
//  * dequeues messages with a visibility timeout (they stay on the queue,
//    hidden, until deleted);
//  * a message dequeued more than `max_dequeue_count` times, or one the
//    handler calls poison, is put on the poison queue with the reason (the
//    Azure Functions convention) and only then deleted from the source;
//  * a message the server accepted is deleted; if the delete fails, the
//    message reappears and the handler sees it again with the same id, so
//    handlers pass the message id as request_id (idempotent);
//  * when the server is unreachable the message is made visible again at
//    once and no further message is dequeued until `server_ready` says the
//    server is back, so an outage does not push messages to the poison
//    queue.
//
// The poison message is JSON (base64-encoded unless encode_base64 is off):
//   {"reason": "...", "queue": "<source>", "messageId": "...",
//    "dequeueCount": N, "insertionTime": "...", "messageText": "<as received>"}
// If Azure refuses that wrapper (too large), the text is moved as it is and
// the reason is only logged.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/adapters/storage_queue/hooks.h"
#include "gateway/adapters/storage_queue/queue_client.h"

namespace switchboard::gateway::storage_queue {

struct Verdict {
  enum Kind {
    kAccepted,     // delete the message
    kPoison,       // move it to the poison queue with `reason`
    kRetry,        // leave it; it reappears after the visibility timeout
    kUnreachable,  // the server is down: make it visible again, wait for the server
  };
  Kind kind = kAccepted;
  std::string reason;
};

struct ConsumerOptions {
  std::string queue;
  std::string poison_queue;
  int visibility_seconds = 30;
  int max_dequeue_count = 5;
  int batch = 16;
  bool encode_base64 = true;  // of poison messages
  // How long to wait before polling an empty queue again.
  std::chrono::milliseconds idle_poll{500};
  std::chrono::milliseconds max_backoff{5000};
  // A short name for logs and metrics ("run_request", "pipeline_output").
  std::string kind = "queue";
};

class QueueConsumer {
 public:
  using Handler = std::function<Verdict(const QueueMessage&)>;
  // Blocks up to the given time for the server to be reachable.
  using ReadyFn = std::function<bool(std::chrono::milliseconds)>;

  QueueConsumer(const QueueClient* client, ConsumerOptions options, Handler handler, ReadyFn server_ready,
                Hooks hooks);
  ~QueueConsumer();

  void Start();
  void Stop();  // idempotent; a message being handled is finished first

  // One round: waits for the server, dequeues a batch and handles it.
  // Returns how many messages were dequeued. Used by the loop and by tests.
  absl::StatusOr<int> PollOnce();

  // The poison message for `m` (exposed for tests).
  static std::string PoisonBody(const QueueMessage& m, const std::string& source, const std::string& reason,
                                bool base64);

 private:
  void Loop();
  void Sleep(std::chrono::milliseconds d);
  bool EnsureQueues();
  void Poison(const QueueMessage& m, const std::string& reason);

  const QueueClient* client_;
  ConsumerOptions options_;
  Handler handler_;
  ReadyFn server_ready_;
  Hooks hooks_;
  bool queues_ready_ = false;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace switchboard::gateway::storage_queue
