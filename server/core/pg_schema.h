#pragma once
// The PostgreSQL store's tables (pg_store.h), made if missing, and the
// NOTIFY channel its log transactions announce new heads on.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/core/pg_conn.h"

namespace switchboard::core::pg {

// Creates `schema` and its tables when missing, in one transaction under
// an advisory lock: replicas starting at once do not race on CREATE.
// Existing tables are left as they are.
absl::Status EnsureSchema(Conn& c, const std::string& schema);

// The channel a log transaction NOTIFYs (payload: the new head), one per
// schema: "sb_log_<schema>", cut to PostgreSQL's 63-byte identifiers.
std::string LogChannel(absl::string_view schema);

}  // namespace switchboard::core::pg
