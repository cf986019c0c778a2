#pragma once
// What replicated mode (store = a PostgreSQL URI, docs/scale-out.md) refuses
// in the config: anything that lives on one replica's disk and that other
// replicas would need to see. Checked at start, before anything is opened,
// so a replica that could not serve the same data as its peers never runs.

#include "absl/status/status.h"
#include "server/core/config.h"

namespace switchboard {

// OK when `config` keeps everything shared off the local disk (or when it
// does not use PostgreSQL); INVALID_ARGUMENT naming the key and what to set
// otherwise.
absl::Status CheckReplicatedConfig(const core::ServerConfig& config);

}  // namespace switchboard
