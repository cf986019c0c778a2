#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "server/media/encoder.h"

namespace switchboard::media {
namespace {

// "Duration: 00:01:02.50," in ffmpeg's input report -> seconds.
bool ParseDuration(absl::string_view text, double* seconds) {
  auto p = text.find("Duration: ");
  if (p == absl::string_view::npos) return false;
  absl::string_view d = text.substr(p + 10, 11);
  std::vector<absl::string_view> hms = absl::StrSplit(d, ':');
  double h = 0, m = 0, s = 0;
  if (hms.size() != 3 || !absl::SimpleAtod(hms[0], &h) || !absl::SimpleAtod(hms[1], &m) ||
      !absl::SimpleAtod(hms[2], &s)) {
    return false;
  }
  *seconds = h * 3600 + m * 60 + s;
  return *seconds > 0;
}

class FfmpegEncoder final : public Encoder {
 public:
  explicit FfmpegEncoder(std::string path) : path_(std::move(path)) {}
  const char* implementation() const override { return "ffmpeg"; }
  absl::Status Run(const EncodeSpec& spec, const ProgressFn& progress, const CancelFlag& cancel) override;

 private:
  std::string path_;
};

absl::Status FfmpegEncoder::Run(const EncodeSpec& spec, const ProgressFn& progress, const CancelFlag& cancel) {
  std::vector<std::string> argv = FfmpegArgv(path_, spec);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  // Written by the child if exec fails, so the error's stderr tail says why
  // (made here: the child may only make async-signal-safe calls).
  const std::string exec_failed = absl::StrCat("could not start '", path_, "' (media.ffmpeg_path)\n");
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork failed: ", std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execvp(cargv[0], cargv.data());
    (void)!write(2, exec_failed.data(), exec_failed.size());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  std::string out_buf, err_all, err_tail;
  double duration = -1;
  double out_time = -1;  // of the progress block being read (blocks may span reads)
  bool killed = false;
  auto kill_time = std::chrono::steady_clock::time_point::max();
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (cancel.canceled() && !killed) {
      kill(-pid, SIGTERM);
      killed = true;
      kill_time = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    }
    if (killed && std::chrono::steady_clock::now() > kill_time) kill(-pid, SIGKILL);
    int n = poll(fds, 2, 100);
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (i == 1) {
        if (err_all.size() < 65536) err_all.append(buf, static_cast<size_t>(r));
        err_tail.append(buf, static_cast<size_t>(r));
        if (err_tail.size() > 4096) err_tail.erase(0, err_tail.size() - 4096);
        if (duration < 0) {
          double d;
          if (ParseDuration(err_all, &d)) duration = d;
        }
        continue;
      }
      out_buf.append(buf, static_cast<size_t>(r));
      // Progress blocks: key=value lines ending with progress=continue|end.
      size_t nl;
      while ((nl = out_buf.find('\n')) != std::string::npos) {
        std::string line = out_buf.substr(0, nl);
        out_buf.erase(0, nl + 1);
        int64_t us;
        if (absl::StartsWith(line, "out_time_us=") && absl::SimpleAtoi(line.substr(12), &us) && us >= 0) {
          out_time = static_cast<double>(us) / 1e6;
        } else if (absl::StartsWith(line, "progress=") && progress) {
          double t = std::max(0.0, out_time);
          double f = duration > 0 ? std::min(1.0, t / duration) : -1;
          progress(f, EncodeProgressText(t, duration, line == "progress=end"));
        }
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (cancel.canceled()) return absl::CancelledError("the encode was canceled; ffmpeg was stopped");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  // The last few lines of stderr say what went wrong.
  std::vector<std::string> lines = absl::StrSplit(err_tail, '\n', absl::SkipWhitespace());
  size_t from = lines.size() > 4 ? lines.size() - 4 : 0;
  std::string tail;
  for (size_t i = from; i < lines.size(); ++i) absl::StrAppend(&tail, tail.empty() ? "" : " | ", lines[i]);
  std::string how = WIFEXITED(status) ? absl::StrCat("exited with status ", WEXITSTATUS(status))
                                      : absl::StrCat("was killed by signal ", WTERMSIG(status));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) how = absl::StrCat("could not be run as '", path_, "'");
  return absl::AbortedError(absl::StrCat("ffmpeg ", how, ": ", tail));
}

}  // namespace

std::vector<std::string> FfmpegArgv(const std::string& ffmpeg_path, const EncodeSpec& spec) {
  std::vector<std::string> argv = {ffmpeg_path, "-nostdin", "-hide_banner", "-nostats", "-y"};
  for (const auto& in : spec.inputs) {
    argv.push_back("-i");
    argv.push_back(in);
  }
  argv.insert(argv.end(), spec.args.begin(), spec.args.end());
  argv.insert(argv.end(), {"-progress", "pipe:1", spec.output_path});
  return argv;
}

std::string EncodeProgressText(double encoded_seconds, double duration_seconds, bool end) {
  // ffmpeg may report a little past the input's duration.
  if (duration_seconds > 0) encoded_seconds = std::min(encoded_seconds, duration_seconds);
  std::string done = absl::StrFormat("%.1f s", std::max(0.0, encoded_seconds));
  if (end) return absl::StrCat("encoded ", done);
  if (duration_seconds <= 0) return absl::StrCat("encoding ", done);
  return absl::StrCat("encoding ", done, " of ", absl::StrFormat("%.1f s", duration_seconds));
}

std::unique_ptr<Encoder> MakeFfmpegEncoder(std::string ffmpeg_path) {
  return std::make_unique<FfmpegEncoder>(std::move(ffmpeg_path));
}

}  // namespace switchboard::media
