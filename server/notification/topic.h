#pragma once
// AMQP topic-exchange matching: words are separated by '.', '*' matches
// exactly one word and '#' matches zero or more words.

#include "absl/strings/string_view.h"
#include <string_view>

#include "absl/status/status.h"

namespace switchboard::notification {

bool TopicMatches(absl::string_view pattern, absl::string_view routing_key);

// INVALID_ARGUMENT (naming `field`) for an empty key or an empty word.
absl::Status ValidateRoutingKey(absl::string_view field, absl::string_view key);
// The same for binding patterns, which may also hold '*' and '#' words.
absl::Status ValidateBinding(absl::string_view field, absl::string_view pattern);

}  // namespace switchboard::notification
