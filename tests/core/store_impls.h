#pragma once
// The Store implementations the conformance suites (store_test.cc,
// job_queue_test.cc) run against: SQLite on a temp folder, and PostgreSQL
// on $SWITCHBOARD_TEST_PG_URL with a fresh schema of its own per
// environment (dropped at the end). Without SWITCHBOARD_TEST_PG_URL the
// postgres cases fail, saying how to start PostgreSQL.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/store.h"

namespace switchboard::core::testing {

// How a postgres replica tails the log (ignored by SQLite).
struct ReplicaOptions {
  bool listen = true;
  absl::Duration poll_interval = absl::Seconds(1);
  int max_batch = 0;  // 0: the implementation's default
  // PostgreSQL's lock_timeout (zero: the default).
  absl::Duration lock_timeout = absl::ZeroDuration();
  // SqliteOptions / PgOptions::keep_done_jobs.
  bool keep_done_jobs = true;
};

// The durable state stores open: a SQLite file, or a PostgreSQL schema.
class StoreEnv {
 public:
  virtual ~StoreEnv() = default;
  // A store over this state: the first, a restart once the last closed,
  // or (when replicas()) one more beside those open.
  virtual absl::StatusOr<std::unique_ptr<Store>> Open(const ReplicaOptions& options = {}) = 0;
  // Several stores may be open at once on this state (PostgreSQL
  // replicas); SQLite has one process, one store.
  virtual bool replicas() const = 0;
  // The SQLite folder, or the PostgreSQL schema.
  virtual std::string where() const = 0;
};

struct StoreImpl {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<StoreEnv>>()> make;
};
inline void PrintTo(const StoreImpl& impl, std::ostream* os) { *os << impl.name; }

StoreImpl SqliteImpl();
StoreImpl PostgresImpl();
// Both, for INSTANTIATE_TEST_SUITE_P.
std::vector<StoreImpl> AllStoreImpls();
inline std::string ImplName(const ::testing::TestParamInfo<StoreImpl>& info) { return info.param.name; }

// $SWITCHBOARD_TEST_PG_URL, or FAILED_PRECONDITION saying how to set it.
absl::StatusOr<std::string> TestPgUrl();

}  // namespace switchboard::core::testing
