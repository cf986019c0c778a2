#pragma once
// fork/exec of a child whose stdout and stderr go to a log file, for tests
// that kill or wait for the child themselves (header-only: the suites that
// use it link different support libraries).

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace switchboard::testing {

// Starts argv[0] (searched in PATH unless it holds a '/') with `argv`; the
// child's stdout and stderr go to `log` (truncated). Returns the child's pid
// (-1 when fork fails); a child that cannot exec exits 127. With
// `own_group`, the child leads a process group of its own (its pid), so
// that kill(-pid, ...) reaches what it starts too.
inline pid_t SpawnLogged(std::vector<std::string> argv, const std::string& log, bool own_group = false) {
  // Everything the child needs is made before fork: the child of a
  // multi-threaded test may only make async-signal-safe calls before exec
  // (fopen and vector growth allocate, and another thread may have held the
  // allocator's lock at fork).
  const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid > 0 && own_group) setpgid(pid, pid);  // both sides: whichever runs first
  if (pid == 0) {
    if (own_group) setpgid(0, 0);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  if (out >= 0) close(out);
  return pid;
}

}  // namespace switchboard::testing
