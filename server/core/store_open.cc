#include "server/core/store_open.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/log.h"
#include "server/core/pg_store.h"

namespace switchboard::core {

std::string TestStoreSchema(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::weakly_canonical(data_dir, ec);
  if (ec) dir = data_dir;
  return absl::StrCat("t_", Sha256Hex(dir.string()).substr(0, 24));
}

namespace {
const char* TestStoreUrl(const ServerConfig& config) {
  const char* url = std::getenv("SWITCHBOARD_TEST_STORE_URL");
  return config.store.empty() && url != nullptr && *url != '\0' ? url : nullptr;
}
}  // namespace

bool OpensPostgres(const ServerConfig& config) { return UsesPostgres(config) || TestStoreUrl(config) != nullptr; }

absl::StatusOr<std::unique_ptr<Store>> OpenConfiguredStore(const ServerConfig& config) {
  PgOptions pg;
  pg.listen = config.store_listen;
  pg.keep_done_jobs = config.job_retention_seconds > 0;
  if (UsesPostgres(config)) {
    pg.url = config.store;
    pg.schema = config.store_schema;
    return OpenPgStore(pg);
  }
  if (const char* test_url = TestStoreUrl(config)) {
    pg.url = test_url;
    pg.schema = TestStoreSchema(config.data_dir);
    log::Info("test store: PostgreSQL (SWITCHBOARD_TEST_STORE_URL)", {{"schema", pg.schema}});
    return OpenPgStore(pg);
  }
  SqliteOptions sqlite;
  sqlite.path = (std::filesystem::path(config.data_dir) / "switchboard.db").string();
  sqlite.keep_done_jobs = config.job_retention_seconds > 0;
  return OpenSqliteStore(sqlite);
}

}  // namespace switchboard::core
