#pragma once
// Child processes for end-to-end tests of real binaries: fork/exec with the
// child's stdout (and optionally stderr) on pipes, reads with deadlines, and
// RAII cleanup so that no test leaves a process behind or hangs.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace switchboard::testing {

class Subprocess {
 public:
  struct Options {
    // Extra or overriding environment variables. Variables named in
    // `unset_env` are removed from the inherited environment.
    std::map<std::string, std::string> env;
    std::vector<std::string> unset_env;
    // Where stderr goes: a pipe (read with ReadStderr) or, if set, a file.
    std::string stderr_file;
    // Written to the child's stdin, which is then closed.
    std::string stdin_data;
  };

  Subprocess() = default;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  // Kills the child (SIGKILL) if it is still running and reaps it.
  ~Subprocess();

  // Starts argv[0] (a path) with argv. False with `error` set on failure.
  bool Start(const std::vector<std::string>& argv, const Options& options, std::string* error);

  pid_t pid() const { return pid_; }

  // Reads one line of stdout (without the newline); nullopt at EOF or when
  // the deadline passes first.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  // Reads stdout and stderr (if piped) to EOF, or until the deadline.
  // Returns false if the deadline passed.
  bool ReadAll(std::chrono::milliseconds timeout);

  // Waits for exit up to the timeout; returns the exit code (128+signal when
  // killed), or nullopt if it is still running.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Sends a signal (SIGSTOP/SIGCONT/SIGTERM...).
  void Signal(int sig);
  // SIGTERM, then SIGKILL after `grace`; reaps the child.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Everything read so far (ReadLine consumes from stdout_).
  const std::string& out() const { return stdout_; }
  const std::string& err() const { return stderr_; }

 private:
  bool Pump(std::chrono::steady_clock::time_point deadline, bool until_newline);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::optional<int> exit_code_;
  std::string stdout_;
  std::string stderr_;
};

// Runs a command to completion: exit code (or -1 on timeout, after killing
// it), stdout and stderr.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;
};
RunResult RunCommand(const std::vector<std::string>& argv, const Subprocess::Options& options,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A self-signed certificate for localhost and 127.0.0.1, valid for a day,
// written to `dir`/cert.pem and `dir`/key.pem by /usr/bin/openssl (a test
// package: without it `made` is false and `result` says why; tests fail on
// that, they do not skip). The certificate is its own CA.
struct TestCertificate {
  std::string cert;
  std::string key;
  bool made = false;
  RunResult result;
};
TestCertificate MakeTestCertificate(const std::string& dir);

}  // namespace switchboard::testing
