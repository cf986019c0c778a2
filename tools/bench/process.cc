#include "process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace switchboard::bench {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) : log_path_(log_path) {
  // Everything the child needs is prepared before fork(): after it only
  // async-signal-safe calls are made.
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = fork();
  if (pid_ == 0) {
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  if (fd >= 0) close(fd);
}

ChildProcess::~ChildProcess() { Stop(); }

std::string ChildProcess::Stop() {
  if (pid_ <= 0) return "not running";
  kill(pid_, SIGTERM);
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 100 && !exited; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::string result;
  if (!exited) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    result = "did not exit within 10 s of SIGTERM; killed";
  } else if (WIFEXITED(status)) {
    result = "exited " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    result = "killed by signal " + std::to_string(WTERMSIG(status));
  }
  pid_ = -1;
  return result;
}

std::string ChildProcess::WaitForLine(const std::string& needle, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log_path_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(needle) != std::string::npos) return line;
    }
    if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

std::string ChildProcess::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

std::string Extract(const std::string& text, const std::string& regex) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex(regex)) && m.size() > 1) return m[1];
  return "";
}

long long ResidentBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  size_t close_paren = text.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(close_paren + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // Field 3 (state) is the first here; utime and stime are fields 14 and 15.
  for (int field = 3; field <= 15 && (fields >> f); ++field) {
    if (field == 14) utime = std::stoull(f);
    if (field == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

namespace {
double UsageSeconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
}  // namespace

double SelfCpuSeconds() { return UsageSeconds(RUSAGE_SELF); }

double ChildrenCpuSeconds() { return UsageSeconds(RUSAGE_CHILDREN); }

std::map<pid_t, ThreadCpu> ThreadCpuNow() {
  std::map<pid_t, ThreadCpu> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    pid_t tid = 0;
    try {
      tid = static_cast<pid_t>(std::stol(entry.path().filename().string()));
    } catch (const std::exception&) {
      continue;
    }
    ThreadCpu t;
    std::getline(std::ifstream(entry.path() / "comm"), t.name);
    // The kernel's clock id of a thread's CPU time (what glibc's
    // pthread_getcpuclockid makes from a tid): CPUCLOCK_SCHED, per thread.
    const clockid_t clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
    timespec ts{};
    if (t.name.empty() || clock_gettime(clock, &ts) != 0) continue;  // it ended meanwhile
    t.seconds = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    out.emplace(tid, std::move(t));
  }
  return out;
}

std::map<std::string, double> ThreadCpuSince(const std::map<pid_t, ThreadCpu>& before) {
  std::map<std::string, double> out;
  for (const auto& [tid, now] : ThreadCpuNow()) {
    auto was = before.find(tid);
    out[now.name] += now.seconds - (was == before.end() ? 0 : was->second.seconds);
  }
  return out;
}

std::string HttpGet(const std::string& host_port, const std::string& path) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr) != 1) return "";
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host_port + "\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      ssize_t n;
      while (out.size() < (16u << 20) && (n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
    }
  }
  close(fd);
  size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

}  // namespace switchboard::bench
