#pragma once
// What every Store implementation (sqlite_store.cc, pg_store.cc) answers
// the same way: the idempotency refusals, and the event's final bytes.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::core {

// The answer to a request_id reused for a different request.
absl::Status RequestIdConflict(absl::string_view scope, absl::string_view request_id);

// The answer to a request_id reused on another RPC (scopes are
// "<service>.<method>", media's "media.<OPERATION_TYPE>").
absl::Status RequestIdUsedElsewhere(absl::string_view request_id, absl::string_view first, absl::string_view now);

// Appends fields 1 (sequence) and 2 (create_time) to a serialized event
// (EventDraft::payload); protobuf parsing lets later occurrences of a
// scalar or message field win (messages merge, and the payload never sets
// them).
std::string FinalizeEvent(std::string payload, int64_t seq, int64_t create_us);

// A fresh TxnReader::RoutesVersion (store.h): 64 random bits, never zero.
// Random, not counted: a rolled-back transaction's version is never given
// again, so an engine that loaded its routes at one cannot take a later
// one for it.
uint64_t NewRoutesVersion();

// The JobQueue argument refusals (job_queue.h), naming what to fix; OK
// when the call may go on.
absl::Status CheckClaim(absl::string_view kind, absl::string_view owner, int n, absl::Duration lease);
absl::Status CheckPrune(int n);
absl::Status CheckReleasePrefix(absl::string_view owner_prefix);
absl::Status CheckFind(absl::string_view kind, absl::string_view key);

// The least string above every string that starts with `prefix` (bytewise),
// for a range scan "s >= prefix AND s < PrefixEnd(prefix)"; nullopt when
// there is none (an empty prefix, or one of 0xff bytes only): no upper
// bound.
std::optional<std::string> PrefixEnd(absl::string_view prefix);

}  // namespace switchboard::core
