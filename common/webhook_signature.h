#pragma once
// How Switchboard signs a webhook delivery, and how a receiver checks it.
//
//   X-Switchboard-Timestamp: 1763800000            (unix seconds)
//   X-Switchboard-Signature: sha256=<hex>          (lowercase)
//
// where <hex> = HMAC-SHA256(secret, timestamp + "." + body). A receiver
// recomputes it, compares in constant time, and rejects timestamps more than
// a tolerance (5 minutes is usual) away from its clock, so a captured
// delivery cannot be replayed later.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard {

inline constexpr char kSignatureHeader[] = "X-Switchboard-Signature";
inline constexpr char kTimestampHeader[] = "X-Switchboard-Timestamp";

// "sha256=<hex>".
std::string SignWebhook(absl::string_view secret, int64_t unix_seconds, absl::string_view body);

// OK, or UNAUTHENTICATED saying what is wrong (bad signature, stale time).
absl::Status VerifyWebhook(absl::string_view secret, absl::string_view timestamp_header,
                           absl::string_view signature_header, absl::string_view body, int64_t now_unix_seconds,
                           int64_t tolerance_seconds = 300);

}  // namespace switchboard
