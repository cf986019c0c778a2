#pragma once
// One switchboardd per --data_dir: an exclusive flock on <data_dir>/.lock,
// held for the life of the server and released by the kernel when the
// process ends, however it ends (kill -9 included). With it held, state the
// server owns (git mirrors, the embedded remotes, blob files) has no other
// writer, so locks a crash left behind can be cleared safely.
//
// The folder also names its replica: <data_dir>/instance holds a random id
// made at the first start and kept. Every lease a process takes is owned by
// "<instance>/<process start>" (Server::Start), so that the next process on
// the same folder, holding the lock, knows that whatever "<instance>/..."
// still holds is a dead predecessor's and can release it at once
// (JobQueue::ReleaseOwnedBy) instead of waiting for the leases to run out.

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

  // This folder's replica instance id (16 hex digits).
  const std::string& instance() const { return instance_; }

 private:
  DataDirLock(int fd, std::string instance) : fd_(fd), instance_(std::move(instance)) {}
  int fd_;
  std::string instance_;
};

}  // namespace switchboard::core
