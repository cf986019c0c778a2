#include <gtest/gtest.h>

#include "tests/core/store_impls.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/uuid.h"
#include "server/core/pg_conn.h"
#include "server/core/pg_store.h"

namespace switchboard::core::testing {
namespace {

class SqliteEnv final : public StoreEnv {
 public:
  SqliteEnv() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sb-store-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~SqliteEnv() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  absl::StatusOr<std::unique_ptr<Store>> Open(const ReplicaOptions& o) override {
    if (dir_.empty()) return absl::InternalError("mkdtemp failed");
    SqliteOptions options{dir_ + "/switchboard.db"};
    if (o.max_batch > 0) options.max_batch = o.max_batch;
    options.keep_done_jobs = o.keep_done_jobs;
    return OpenSqliteStore(options);
  }
  bool replicas() const override { return false; }
  std::string where() const override { return dir_; }

 private:
  std::string dir_;
};

class PostgresEnv final : public StoreEnv {
 public:
  PostgresEnv(std::string url, std::string schema) : url_(std::move(url)), schema_(std::move(schema)) {}
  ~PostgresEnv() override {
    pg::ConnectSpec spec;
    spec.url = url_;
    spec.schema = "public";
    auto c = pg::Conn::Open(spec);
    if (!c.ok()) {
      ADD_FAILURE() << "cannot drop test schema " << schema_ << ": " << c.status();
      return;
    }
    auto r = (*c)->ExecScript("drop schema", absl::StrCat("DROP SCHEMA IF EXISTS ", pg::QuoteIdent(schema_), " CASCADE"));
    EXPECT_TRUE(r.ok()) << r.status();
  }
  absl::StatusOr<std::unique_ptr<Store>> Open(const ReplicaOptions& o) override {
    PgOptions options;
    options.url = url_;
    options.schema = schema_;
    options.listen = o.listen;
    options.poll_interval = o.poll_interval;
    if (o.max_batch > 0) options.max_batch = o.max_batch;
    if (o.lock_timeout > absl::ZeroDuration()) options.lock_timeout = o.lock_timeout;
    options.keep_done_jobs = o.keep_done_jobs;
    return OpenPgStore(options);
  }
  bool replicas() const override { return true; }
  std::string where() const override { return schema_; }

 private:
  std::string url_, schema_;
};

}  // namespace

absl::StatusOr<std::string> TestPgUrl() {
  const char* url = getenv("SWITCHBOARD_TEST_PG_URL");
  if (url == nullptr || url[0] == '\0') {
    return absl::FailedPreconditionError(
        "SWITCHBOARD_TEST_PG_URL is not set: run through tools/test.sh, or tools/services.sh start and "
        "eval \"$(tools/services.sh env)\"");
  }
  return std::string(url);
}

StoreImpl SqliteImpl() {
  return {"sqlite", []() -> absl::StatusOr<std::unique_ptr<StoreEnv>> { return std::make_unique<SqliteEnv>(); }};
}

StoreImpl PostgresImpl() {
  return {"postgres", []() -> absl::StatusOr<std::unique_ptr<StoreEnv>> {
            ASSIGN_OR_RETURN(std::string url, TestPgUrl());
            static std::atomic<int> n{0};
            // Unique per process and environment: tests run in parallel
            // processes against one database.
            std::string schema = absl::StrCat("sbtest_", getpid(), "_", n.fetch_add(1), "_",
                                              absl::Hex(UniqueRandom64() & 0xffffff));
            return std::make_unique<PostgresEnv>(std::move(url), std::move(schema));
          }};
}

std::vector<StoreImpl> AllStoreImpls() { return {SqliteImpl(), PostgresImpl()}; }

}  // namespace switchboard::core::testing
