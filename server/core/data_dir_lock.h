#pragma once
// One switchboardd per --data_dir: an exclusive flock on <data_dir>/.lock,
// held for the life of the server and released by the kernel when the
// process ends, however it ends (kill -9 included). With it held, state the
// server owns (git mirrors, the embedded remotes, blob files) has no other
// writer, so locks a crash left behind can be cleared safely.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace switchboard::core {

class DataDirLock {
 public:
  // FAILED_PRECONDITION naming the directory when another process holds it.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& data_dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace switchboard::core
