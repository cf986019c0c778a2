#include "server/notification/queue_names.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace switchboard::notification::queue_names {

using google::protobuf::util::TimeUtil;

std::string JobKind(absl::string_view queue) { return absl::StrCat(kMessageJobPrefix, queue); }
std::string JobKey(int64_t sequence) { return absl::StrCat(sequence); }

std::string DeadLetterName(absl::string_view queue, int64_t seq) {
  return absl::StrFormat("subscriptions/%s/deadLetters/%020d", queue, seq);
}
std::string DeadLetterPrefix(absl::string_view queue) {
  return absl::StrCat(kSubscriptionsPrefix, queue, "/deadLetters/");
}

absl::Status ValidateQueueName(absl::string_view field, absl::string_view queue) {
  if (queue.empty() || queue.size() > 200) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be 1 to 200 characters"));
  }
  for (char c : queue) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat(field, " '", queue,
                                                     "' may hold only letters, digits, '_', '-' and '.'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> QueueOf(absl::string_view field, absl::string_view name) {
  absl::string_view q = name;
  absl::ConsumePrefix(&q, kSubscriptionsPrefix);
  RETURN_IF_ERROR(ValidateQueueName(field, q));
  return std::string(q);
}

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }
google::protobuf::Duration ToProto(absl::Duration d) {
  return TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(d));
}
int64_t ToUs(const google::protobuf::Duration& d) { return TimeUtil::DurationToMicroseconds(d); }

}  // namespace switchboard::notification::queue_names
