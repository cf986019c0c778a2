#include "tests/notification/app_fixtures.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "wire/managed_app.h"

namespace switchboard::testing {

v1::ManagedAppNotification AppFixture(const std::string& file) {
  std::ifstream in(std::string(SB_FIXTURES_DIR) + "/managedapp/" + file);
  EXPECT_TRUE(in.good()) << "missing fixture " << file;
  std::stringstream ss;
  ss << in.rdbuf();
  auto n = wire::ManagedAppNotificationFromJson(ss.str());
  EXPECT_TRUE(n.ok()) << file << ": " << n.status();
  return n.ok() ? *n : v1::ManagedAppNotification();
}

}  // namespace switchboard::testing
