// switchboardd's `store`, `store_schema` and `store_listen` keys: which store a start opens,
// and the errors that name what to fix.

#include <gtest/gtest.h>

#include "server/core/config.h"
#include "server/replicated_config.h"

namespace switchboard::core {
namespace {

TEST(StoreConfig, SqliteIsTheDefaultAndPostgresUrisSelectPostgres) {
  ServerConfig c;
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_FALSE(UsesPostgres(c));
  ASSERT_TRUE(MergeConfigJson(R"({"store": "sqlite"})", &c).ok());
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_FALSE(UsesPostgres(c));
  for (const char* uri : {"postgres://u@db/switchboard", "postgresql:///switchboard?host=/tmp/pg"}) {
    ServerConfig pg;
    ASSERT_TRUE(MergeConfigJson(std::string(R"({"store": ")") + uri + R"(", "store_schema": "sb_2"})", &pg).ok());
    EXPECT_TRUE(ValidateConfig(pg).ok()) << uri;
    EXPECT_TRUE(UsesPostgres(pg)) << uri;
    EXPECT_EQ(pg.store_schema, "sb_2");
  }
}

TEST(StoreConfig, AStoreThatIsNeitherIsRefusedSayingWhatItMayBe) {
  ServerConfig c;
  c.store = "mysql://db/x";
  absl::Status s = ValidateConfig(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("store must be \"sqlite\""), absl::string_view::npos) << s.message();
  EXPECT_NE(s.message().find("postgresql://"), absl::string_view::npos) << s.message();
}

TEST(StoreConfig, ASchemaNameThatIsNotAPlainIdentifierIsRefused) {
  for (const char* bad : {"", "Upper", "1abc", "a-b", "x; DROP TABLE events"}) {
    ServerConfig c;
    c.store = "postgresql:///switchboard";
    c.store_schema = bad;
    absl::Status s = ValidateConfig(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("store_schema"), absl::string_view::npos) << s.message();
  }
  // Only checked when PostgreSQL is used.
  ServerConfig sqlite;
  sqlite.store_schema = "Upper";
  EXPECT_TRUE(ValidateConfig(sqlite).ok());
}

TEST(StoreConfig, WrongTypesNameTheKey) {
  ServerConfig c;
  absl::Status s = MergeConfigJson(R"({"store": 5})", &c);
  EXPECT_EQ(s.message(), "key 'store' must be a string");
  s = MergeConfigJson(R"({"store_listen": "no"})", &c);
  EXPECT_EQ(s.message(), "key 'store_listen' must be true or false");
  EXPECT_TRUE(c.store_listen) << "a refused value changes nothing";
}

TEST(StoreConfig, StoreListenIsOnByDefaultAndTurnsOff) {
  ServerConfig c;
  EXPECT_TRUE(c.store_listen);
  ASSERT_TRUE(MergeConfigJson(R"({"store": "postgresql:///switchboard", "store_listen": false})", &c).ok());
  EXPECT_FALSE(c.store_listen);
  EXPECT_TRUE(ValidateConfig(c).ok());
  ASSERT_TRUE(MergeConfigJson(R"({"store_listen": true})", &c).ok());
  EXPECT_TRUE(c.store_listen);
}

TEST(ReplicatedConfig, APostgresStoreRefusesWhatLivesOnOneReplicasDisk) {
  ServerConfig sqlite;
  EXPECT_TRUE(CheckReplicatedConfig(sqlite).ok()) << "SQLite keeps the embedded defaults";

  ServerConfig pg;
  pg.store = "postgresql:///switchboard";
  absl::Status s = CheckReplicatedConfig(pg);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("resourcing.infra_url is not set"), absl::string_view::npos) << s.message();

  ASSERT_TRUE(MergeConfigJson(R"({"resourcing": {"infra_url": "https://git.example/infra.git",
                                                 "modules_url": "https://git.example/modules.git"}})",
                              &pg)
                  .ok());
  s = CheckReplicatedConfig(pg);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("media.local_accounts is [devstoreaccount1]"), absl::string_view::npos) << s.message();

  ASSERT_TRUE(MergeConfigJson(R"({"media": {"local_accounts": []}})", &pg).ok());
  EXPECT_TRUE(CheckReplicatedConfig(pg).ok()) << CheckReplicatedConfig(pg);
}

}  // namespace
}  // namespace switchboard::core
