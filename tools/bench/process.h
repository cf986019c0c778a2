#pragma once
// Child processes for the benchmark: start a server, read its port from its
// output, measure its memory, stop it.

#include <sys/types.h>

#include <string>
#include <vector>

namespace switchboard::bench {

class ChildProcess {
 public:
  // Starts `argv`, stdout and stderr to `log_path`.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();
  // Waits (up to `seconds`) for `pattern`'s first group to appear in the log.
  std::string WaitFor(const std::string& regex, double seconds) const;
  pid_t pid() const { return pid_; }
  void Stop();

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// VmRSS of a process, in bytes (0 if unreadable).
long long ResidentBytes(pid_t pid);

}  // namespace switchboard::bench
