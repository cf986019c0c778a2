#include "server/core/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/uuid.h"

namespace switchboard::core {
namespace {

bool IsInstanceId(const std::string& s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Called with the lock held: nobody else reads or writes the file meanwhile.
absl::StatusOr<std::string> ReadOrMakeInstance(const std::string& data_dir) {
  const std::filesystem::path path = std::filesystem::path(data_dir) / "instance";
  {
    std::ifstream in(path);
    if (in) {
      std::string id;
      std::getline(in, id);
      if (IsInstanceId(id)) return id;
      return absl::DataLossError(absl::StrCat("'", path.string(), "' does not hold an instance id (16 hex digits); ",
                                              "delete it and the next start makes a new one"));
    }
  }
  const std::string id = absl::StrCat(absl::Hex(UniqueRandom64(), absl::kZeroPad16));
  const std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const std::string line = id + "\n";
  bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot write '", path.string(), "': ", std::strerror(errno),
                                                      "; check that --data_dir is writable"));
  }
  return id;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::string& data_dir) {
  const std::string path = (std::filesystem::path(data_dir) / ".lock").string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open '", path, "': ", std::strerror(errno), "; check that --data_dir is writable"));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat("--data_dir '", data_dir,
                                                        "' is in use by another switchboardd; stop it or give "
                                                        "this one its own --data_dir"));
    }
    return absl::FailedPreconditionError(absl::StrCat("cannot lock '", path, "': ", std::strerror(err)));
  }
  absl::StatusOr<std::string> instance = ReadOrMakeInstance(data_dir);
  if (!instance.ok()) {
    ::close(fd);
    return instance.status();
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd, std::move(*instance)));
}

DataDirLock::~DataDirLock() { ::close(fd_); }

}  // namespace switchboard::core
