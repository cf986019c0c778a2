#pragma once
// Names shared by the queue engine's files (queues.cc, queue_deliveries.cc):
// resource kinds, the job kind of a queue's messages, and name checks.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"

namespace switchboard::notification::queue_names {

inline constexpr char kSubscriptionKind[] = "subscription";
// Messages queued by a data dir from before jobs (moved into jobs by Load).
inline constexpr char kLegacyMessageKind[] = "bus_msg";
inline constexpr char kDeadLetterKind[] = "dead_letter";
inline constexpr char kSubscriptionsPrefix[] = "subscriptions/";
// Every queue's job kind starts with it.
inline constexpr char kMessageJobPrefix[] = "bus.message:";

// "bus.message:<queue>".
std::string JobKind(absl::string_view queue);
// A message's job key: its event's sequence.
std::string JobKey(int64_t sequence);
std::string DeadLetterName(absl::string_view queue, int64_t seq);
// "subscriptions/<queue>/deadLetters/" (every dead letter of the queue).
std::string DeadLetterPrefix(absl::string_view queue);

absl::Status ValidateQueueName(absl::string_view field, absl::string_view queue);
// "subscriptions/q" or "q" -> "q", checked; errors name `field`.
absl::StatusOr<std::string> QueueOf(absl::string_view field, absl::string_view name);

int64_t NowUs();
google::protobuf::Duration ToProto(absl::Duration d);
int64_t ToUs(const google::protobuf::Duration& d);

}  // namespace switchboard::notification::queue_names
