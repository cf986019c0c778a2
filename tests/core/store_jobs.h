#pragma once
// The jobs table of a switchboardd under test, read from outside the server
// (it may be running): from its SQLite file, or, under
// `tools/test.sh --store=postgres`, from its schema on
// SWITCHBOARD_TEST_STORE_URL. Tests look at what was durably written, not at
// what the engine says about it.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/job.h"
#include "server/core/store.h"

namespace switchboard::testing {

// The jobs of `kind` (and of `key`, when not empty) in the store of the
// server on `data_dir`, oldest first: its SQLite file when `data_dir` holds
// one (a test that seeds a file, or any run without a test store), the
// schema of `data_dir` on SWITCHBOARD_TEST_STORE_URL otherwise. Fails the
// test when the store cannot be read; an empty list when there are none.
std::vector<core::Job> JobsInStore(const std::string& data_dir, const std::string& kind, const std::string& key = "");

// The same, from the SQLite database file `db_path` (a store a test opened
// itself with OpenSqliteStore).
std::vector<core::Job> JobsInSqlite(const std::string& db_path, const std::string& kind, const std::string& key = "");

// Opens the store a server on `data_dir` opens (core::OpenConfiguredStore
// with that data_dir), so that a test can seed what an earlier release or a
// killed process left behind on whichever store the suite runs on. Close it
// before a server starts on the same data_dir.
absl::StatusOr<std::unique_ptr<core::Store>> OpenServerStore(const std::string& data_dir);

}  // namespace switchboard::testing
