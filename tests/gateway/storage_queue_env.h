#pragma once
// Azurite's queue endpoint for the storage queue tests, from the variables
// `tools/services.sh env` prints. A missing variable fails the test (it
// never skips silently).

#include <gtest/gtest.h>

#include <atomic>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/adapters/storage_queue/queue_client.h"

namespace switchboard::testing {

inline std::string RequiredEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    ADD_FAILURE() << name << " is not set: run `tools/services.sh start` and "
                  << "`eval \"$(tools/services.sh env)\"` first (or tools/test.sh)";
    return "";
  }
  return v;
}

inline gateway::storage_queue::QueueAccount AzuriteQueueAccount() {
  gateway::storage_queue::QueueAccount a;
  a.endpoint = RequiredEnv("SWITCHBOARD_TEST_AZURITE_QUEUE");
  a.account = RequiredEnv("SWITCHBOARD_TEST_AZURITE_ACCOUNT");
  a.key = RequiredEnv("SWITCHBOARD_TEST_AZURITE_KEY");
  return a;
}

// Queue names: 3-63 lower-case letters, digits and single dashes; unique per
// process and call so tests sharing one Azurite do not meet.
inline std::string UniqueQueueName(const std::string& what) {
  static std::atomic<int> n{0};
  return absl::StrCat("t-", what, "-", static_cast<long>(::getpid()), "-", n++);
}

}  // namespace switchboard::testing
