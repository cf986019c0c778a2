#pragma once
// Child processes for the benchmark: start a server, read its address from
// its output, measure its memory and CPU time, stop it.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace switchboard::bench {

class ChildProcess {
 public:
  // Starts `argv` (argv[0] is a path), stdout and stderr to `log_path`. The
  // child inherits this process's limits, RLIMIT_NOFILE included.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits (up to `seconds`) for a log line containing `needle` and returns
  // it; empty on timeout or when the child has exited.
  std::string WaitForLine(const std::string& needle, double seconds);
  pid_t pid() const { return pid_; }
  // SIGTERM, up to 10 s to exit, then SIGKILL. Returns the exit status text.
  std::string Stop();
  // The last `max_bytes` of the log.
  std::string LogTail(size_t max_bytes) const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// The first group of `regex` in `text`, or "".
std::string Extract(const std::string& text, const std::string& regex);

// VmRSS of a process, in bytes (0 if unreadable).
long long ResidentBytes(pid_t pid);

// User plus system CPU time of a process (all its threads), in seconds.
double CpuSeconds(pid_t pid);

// User plus system CPU time of this process, in seconds.
double SelfCpuSeconds();
// The same of this process's children that ended and were waited for.
double ChildrenCpuSeconds();
// CPU seconds of each of this process's threads alive now, by thread id,
// with its name (/proc/self/task/*/comm), read from the thread's own CPU
// clock (to the nanosecond; /proc's counters tick every 10 ms).
struct ThreadCpu {
  std::string name;
  double seconds = 0;
};
std::map<pid_t, ThreadCpu> ThreadCpuNow();
// The CPU seconds each thread name used since `before` (ThreadCpuNow):
// threads started meanwhile count whole, threads that ended are left out.
std::map<std::string, double> ThreadCpuSince(const std::map<pid_t, ThreadCpu>& before);

// One GET over plain HTTP/1.0 to host:port; the body, or "" on any failure.
std::string HttpGet(const std::string& host_port, const std::string& path);

// The value of an unlabelled Prometheus sample `name` in `text`, or -1.
double MetricValue(const std::string& text, const std::string& name);

}  // namespace switchboard::bench
