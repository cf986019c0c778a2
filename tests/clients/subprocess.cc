#include "tests/clients/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace switchboard::testing {
namespace {

using Clock = std::chrono::steady_clock;

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

Subprocess::~Subprocess() {
  if (pid_ > 0 && !exit_code_.has_value()) {
    kill(pid_, SIGCONT);  // a stopped child cannot die of SIGKILL before it is reaped otherwise
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  CloseFd(&out_fd_);
  CloseFd(&err_fd_);
}

bool Subprocess::Start(const std::vector<std::string>& argv, const Options& options, std::string* error) {
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    bool drop = options.env.count(name) > 0 ||
                std::find(options.unset_env.begin(), options.unset_env.end(), name) != options.unset_env.end();
    if (!drop) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  std::vector<char*> args;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);

  int out_pipe[2], err_pipe[2] = {-1, -1}, in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(in_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + strerror(errno);
    return false;
  }
  int err_file = -1;
  if (options.stderr_file.empty()) {
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
      *error = std::string("pipe: ") + strerror(errno);
      return false;
    }
  } else {
    err_file = open(options.stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (err_file < 0) {
      *error = "open " + options.stderr_file + ": " + strerror(errno);
      return false;
    }
  }
  pid_ = fork();
  if (pid_ < 0) {
    *error = std::string("fork: ") + strerror(errno);
    return false;
  }
  if (pid_ == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_file >= 0 ? err_file : err_pipe[1], 2);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(in_pipe[0]);
  if (err_file >= 0) close(err_file);
  if (err_pipe[1] >= 0) close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  // stdin: small inputs only (fits the pipe buffer), then EOF.
  if (!options.stdin_data.empty()) {
    ssize_t n = write(in_pipe[1], options.stdin_data.data(), options.stdin_data.size());
    (void)n;
  }
  close(in_pipe[1]);
  return true;
}

bool Subprocess::Pump(Clock::time_point deadline, bool until_newline) {
  while (out_fd_ >= 0 || err_fd_ >= 0) {
    if (until_newline && stdout_.find('\n') != std::string::npos) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd fds[2];
    int n = 0;
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    int r = poll(fds, n, static_cast<int>(std::min<long long>(left, 200)));
    if (r < 0 && errno != EINTR) return false;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      bool is_out = fds[i].fd == out_fd_;
      if (got > 0) {
        (is_out ? stdout_ : stderr_).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        CloseFd(is_out ? &out_fd_ : &err_fd_);
      }
    }
  }
  return !until_newline || stdout_.find('\n') != std::string::npos;
}

std::optional<std::string> Subprocess::ReadLine(std::chrono::milliseconds timeout) {
  Pump(Clock::now() + timeout, /*until_newline=*/true);
  auto nl = stdout_.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string line = stdout_.substr(0, nl);
  stdout_.erase(0, nl + 1);
  return line;
}

bool Subprocess::ReadAll(std::chrono::milliseconds timeout) { return Pump(Clock::now() + timeout, false); }

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_.has_value() || pid_ <= 0) return exit_code_;
  auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = DecodeWaitStatus(status);
      return exit_code_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0 && !exit_code_.has_value()) kill(pid_, sig);
}

int Subprocess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  Signal(SIGCONT);
  Signal(SIGTERM);
  if (auto code = Wait(grace)) return *code;
  Signal(SIGKILL);
  return Wait(std::chrono::seconds(10)).value_or(-1);
}

RunResult RunCommand(const std::vector<std::string>& argv, const Subprocess::Options& options,
                     std::chrono::milliseconds timeout) {
  RunResult result;
  Subprocess p;
  std::string error;
  if (!p.Start(argv, options, &error)) {
    result.err = error;
    return result;
  }
  auto start = Clock::now();
  bool done = p.ReadAll(timeout);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(timeout - (Clock::now() - start));
  std::optional<int> code = done ? p.Wait(std::max(left, std::chrono::milliseconds(1000))) : std::nullopt;
  if (!code.has_value()) {
    result.timed_out = true;
    p.Stop(std::chrono::milliseconds(100));
  } else {
    result.exit_code = *code;
  }
  result.out = p.out();
  result.err = p.err();
  return result;
}

TestCertificate MakeTestCertificate(const std::string& dir) {
  TestCertificate c;
  c.cert = dir + "/cert.pem";
  c.key = dir + "/key.pem";
  Subprocess::Options options;
  c.result = RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", c.key,
                         "-out", c.cert, "-days", "1", "-subj", "/CN=localhost", "-addext",
                         "subjectAltName=DNS:localhost,IP:127.0.0.1"},
                        options, std::chrono::seconds(60));
  c.made = c.result.exit_code == 0;
  return c;
}

}  // namespace switchboard::testing
