#pragma once
// A blocking Azure Queue Storage REST client (libcurl + SharedKey), enough
// for the gateway's queue adapter and its tests: Create Queue, Put Message,
// Get Messages (with a visibility timeout), Peek Messages, Delete Message
// (with its pop receipt), Update Message (visibility only) and Clear
// Messages. Works against Azure and
// Azurite (path-style endpoints such as http://127.0.0.1:10001/devstoreaccount1).
// https://learn.microsoft.com/rest/api/storageservices/queue-service-rest-api
//
// Errors: UNAVAILABLE when the endpoint cannot be reached or answers 5xx
// (worth retrying); NOT_FOUND for a missing queue or message;
// PERMISSION_DENIED for 401/403 (wrong account or key); INVALID_ARGUMENT for
// other 4xx. Each message names the operation, the queue and Azure's error
// code.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::gateway::storage_queue {

struct QueueAccount {
  // "http://127.0.0.1:10001/devstoreaccount1" or "https://acct.queue.core.windows.net".
  std::string endpoint;
  std::string account;
  std::string key;  // base64
  std::string api_version = "2021-12-02";
  long timeout_ms = 30000;
};

struct QueueMessage {
  std::string id;
  std::string pop_receipt;  // empty for peeked messages
  int64_t dequeue_count = 0;
  std::string text;  // MessageText, XML entities decoded
  std::string insertion_time;
  std::string time_next_visible;
};

class QueueClient {
 public:
  explicit QueueClient(QueueAccount account) : a_(std::move(account)) {}

  // Creates the queue; an existing queue is fine.
  absl::Status CreateQueue(absl::string_view queue) const;
  // Adds a message whose MessageText is `text` (escaped for XML here). TTL -1:
  // never expires. Returns the new message's id.
  absl::StatusOr<QueueMessage> PutMessage(absl::string_view queue, absl::string_view text,
                                          int64_t ttl_seconds = -1) const;
  // Dequeues up to `max` (1-32) messages, hiding them for `visibility_seconds`.
  absl::StatusOr<std::vector<QueueMessage>> GetMessages(absl::string_view queue, int max,
                                                        int visibility_seconds) const;
  // Reads up to `max` visible messages without dequeuing them.
  absl::StatusOr<std::vector<QueueMessage>> PeekMessages(absl::string_view queue, int max) const;
  absl::Status DeleteMessage(absl::string_view queue, absl::string_view id, absl::string_view pop_receipt) const;
  absl::Status ClearMessages(absl::string_view queue) const;
  // Approximate number of messages, hidden ones included (Get Queue Metadata).
  absl::StatusOr<int64_t> ApproximateCount(absl::string_view queue) const;
  // Makes a dequeued message visible again after `visibility_seconds` (0:
  // now), keeping its text. Returns the new pop receipt.
  absl::StatusOr<std::string> UpdateVisibility(absl::string_view queue, absl::string_view id,
                                               absl::string_view pop_receipt, int visibility_seconds) const;

  const QueueAccount& account() const { return a_; }

 private:
  QueueAccount a_;
};

// Parses a QueueMessagesList body.
std::vector<QueueMessage> ParseMessagesList(absl::string_view xml);

}  // namespace switchboard::gateway::storage_queue
