// core::DataDirLock: one process per data dir, and the folder's instance id
// that names the replica across restarts (data_dir_lock.h).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/core/data_dir_lock.h"
#include "tests/core/test_support.h"

namespace switchboard::core {
namespace {

TEST(DataDirLock, TheInstanceIdIsMadeOnceAndKeptAcrossRestarts) {
  testing::TempDir dir;
  std::string first;
  {
    auto lock = DataDirLock::Acquire(dir.path());
    ASSERT_TRUE(lock.ok()) << lock.status();
    first = (*lock)->instance();
    EXPECT_EQ(first.size(), 16u);
    EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos) << first;
    // A second holder is refused while the first holds it.
    auto second = DataDirLock::Acquire(dir.path());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  auto again = DataDirLock::Acquire(dir.path());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->instance(), first);

  testing::TempDir other;
  auto lock = DataDirLock::Acquire(other.path());
  ASSERT_TRUE(lock.ok());
  EXPECT_NE((*lock)->instance(), first) << "each folder is its own replica";
}

TEST(DataDirLock, ADamagedInstanceFileStopsTheStartSayingWhatToDo) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/instance") << "not an id\n";
  auto lock = DataDirLock::Acquire(dir.path());
  EXPECT_EQ(lock.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(lock.status().message().find("delete it"), absl::string_view::npos) << lock.status();
  // Nothing was left locked by the refusal.
  std::filesystem::remove(dir.path() + "/instance");
  EXPECT_TRUE(DataDirLock::Acquire(dir.path()).ok());
}

}  // namespace
}  // namespace switchboard::core
