#include "server/resourcing/pipeline.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/core/programs.h"

namespace switchboard::resourcing {
namespace {

constexpr size_t kMaxStdout = 16 << 20;
constexpr size_t kStderrTail = 4096;

// Where the pipeline's program is (argv non-empty), or the error naming its key.
absl::StatusOr<std::string> FindPipelineProgram(const std::vector<std::string>& argv) {
  return core::CheckProgram(argv[0], kPipelineProgramKey, "the pipeline run after changes land on main");
}

}  // namespace

absl::Status CommandPipeline::CheckProgram(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::OkStatus();  // no pipeline: reports come from outside
  return FindPipelineProgram(argv).status();
}

absl::StatusOr<PipelineResult> CommandPipeline::Run(const std::string& dir, const std::string& project) {
  if (argv_.empty()) return absl::FailedPreconditionError("no pipeline command is configured");
  // Looked up again for each run: the program may have been installed since.
  // Everything the child needs is made before fork: between fork and exec
  // the child of this multi-threaded process may only make async-signal-safe
  // calls. (It called putenv there, which allocates; under ThreadSanitizer a
  // child hung for ever on the allocator's lock, held by another thread at
  // fork, and its run waited on it.)
  absl::StatusOr<std::string> program = FindPipelineProgram(argv_);
  if (!program.ok()) return program.status();
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "SB_PROJECT=")) env.emplace_back(*e);
  }
  env.push_back(absl::StrCat("SB_PROJECT=", project));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  std::vector<std::string> args = argv_;
  args.push_back(dir);
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork failed: ", strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (chdir(dir.c_str()) != 0) _exit(126);
    execve(program->c_str(), cargv.data(), envp.data());
    const char msg[] = "pipeline command could not be started\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  setpgid(pid, pid);
  close(out_pipe[1]);
  close(err_pipe[1]);
  PipelineResult result;
  std::string err;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds_);
  bool out_open = true, err_open = true, killed = false;
  char buf[65536];
  while (out_open || err_open) {
    if (!killed && (std::chrono::steady_clock::now() > deadline || (stop_ && stop_->load()))) {
      result.timed_out = std::chrono::steady_clock::now() > deadline;
      kill(-pid, SIGKILL);
      killed = true;
    }
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0}, {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    int rc = poll(fds, 2, 100);
    if (rc < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      if (i == 0) {
        if (result.stdout_text.size() < kMaxStdout) result.stdout_text.append(buf, static_cast<size_t>(n));
      } else {
        err.append(buf, static_cast<size_t>(n));
        if (err.size() > 4 * kStderrTail) err.erase(0, err.size() - kStderrTail);
      }
    }
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (err.size() > kStderrTail) err.erase(0, err.size() - kStderrTail);
  result.stderr_tail = std::move(err);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else result.exit_code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  if (result.timed_out) {
    result.stderr_tail += absl::StrCat("\n(pipeline killed after ", timeout_seconds_, " s timeout)");
  }
  return result;
}

}  // namespace switchboard::resourcing
