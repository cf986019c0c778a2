#pragma once
// Opens the store a ServerConfig names (its `store` key): the SQLite file in
// data_dir, or a PostgreSQL database shared by replicas.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/config.h"
#include "server/core/store.h"

namespace switchboard::core {

// The store of `config`. For the test suite alone, SWITCHBOARD_TEST_STORE_URL
// (set by `tools/test.sh --store=postgres`) puts every server whose config
// names no store on that PostgreSQL database, in a schema named after its
// data_dir, so that a restart on the same folder finds its state again
// (docs/development.md).
absl::StatusOr<std::unique_ptr<Store>> OpenConfiguredStore(const ServerConfig& config);

// True when OpenConfiguredStore(config) opens PostgreSQL (a store other
// replicas may share), the test variable included.
bool OpensPostgres(const ServerConfig& config);

// The schema a server on `data_dir` uses under SWITCHBOARD_TEST_STORE_URL.
std::string TestStoreSchema(const std::string& data_dir);

}  // namespace switchboard::core
