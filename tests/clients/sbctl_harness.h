#pragma once
// The sbctl end-to-end harness: temp dirs, the real sbctl binary run as a
// child with a clean environment, and a real switchboardd on port 0 whose
// address is read from its "serving" log line. Shared by the sbctl_*_test
// files (SBCTL_PATH and SWITCHBOARDD_PATH come from the build).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/clients/subprocess.h"
#include "tests/core/free_port.h"

namespace switchboard::testing {

using namespace std::chrono_literals;

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sbctl_test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }

 private:
  std::string path_;
};

// The sbctl child environment never inherits the caller's server or token.
inline Subprocess::Options CleanEnv(std::map<std::string, std::string> env = {}) {
  Subprocess::Options o;
  o.env = std::move(env);
  o.unset_env = {"SWITCHBOARD_SERVER", "SWITCHBOARD_TOKEN"};
  return o;
}

inline RunResult Sbctl(std::vector<std::string> args, const Subprocess::Options& options = CleanEnv()) {
  args.insert(args.begin(), SBCTL_PATH);
  return RunCommand(args, options, 60s);
}

inline std::string Describe(const RunResult& r) {
  return absl::StrCat("exit ", r.exit_code, r.timed_out ? " (timed out)" : "", "\n--- stdout:\n", r.out,
                      "\n--- stderr:\n", r.err);
}


// switchboardd on 127.0.0.1:0 with its own data directory. Its stderr goes
// to a file (never a pipe nobody drains); the real port comes from the
// "serving" log line.
class Server {
 public:
  explicit Server(std::vector<std::string> extra_flags = {}) : extra_flags_(std::move(extra_flags)) {}
  ~Server() { process_.Stop(5s); }

  ::testing::AssertionResult Start() {
    if (dir_.path().empty()) return ::testing::AssertionFailure() << "cannot create a temp dir";
    log_path_ = dir_.path() + "/switchboardd.log";
    std::vector<std::string> argv = {SWITCHBOARDD_PATH, "--data_dir=" + dir_.path() + "/data",
                                     "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0"};
    argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
    Subprocess::Options options = CleanEnv();
    options.stderr_file = log_path_;
    std::string error;
    if (!process_.Start(argv, options, &error)) return ::testing::AssertionFailure() << error;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::istringstream log(ReadFile(log_path_));
      for (std::string line; std::getline(log, line);) {
        nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.value("msg", "") == "serving" && j.contains("grpc_address")) {
          address_ = j["grpc_address"].get<std::string>();
          return ::testing::AssertionSuccess();
        }
      }
      if (auto code = process_.Wait(0ms)) {
        return ::testing::AssertionFailure() << "switchboardd exited with " << *code << " before serving:\n"
                                             << ReadFile(log_path_);
      }
      std::this_thread::sleep_for(20ms);
    }
    return ::testing::AssertionFailure() << "no \"serving\" log line within 30 s:\n" << ReadFile(log_path_);
  }

  const std::string& address() const { return address_; }
  std::string Log() const { return ReadFile(log_path_); }
  // kill -9, as a crash would.
  void Kill() {
    process_.Signal(SIGKILL);
    process_.Wait(5s);
  }
  const TempDir& dir() const { return dir_; }

 private:
  std::vector<std::string> extra_flags_;
  TempDir dir_;
  std::string log_path_;
  std::string address_;
  Subprocess process_;
};

class SbctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(ServerFlags());
    ASSERT_TRUE(server_->Start());
  }
  virtual std::vector<std::string> ServerFlags() const { return {}; }

  // sbctl with --server pointing at this test's server (global flags may
  // follow the command).
  RunResult Ctl(std::vector<std::string> args, const Subprocess::Options& options = CleanEnv()) {
    args.push_back("--server=" + server_->address());
    return Sbctl(std::move(args), options);
  }

  // Starts `sbctl watch ...` in the background.
  std::unique_ptr<Subprocess> StartWatch(std::vector<std::string> args) {
    std::vector<std::string> argv = {SBCTL_PATH, "watch"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--server=" + server_->address());
    auto p = std::make_unique<Subprocess>();
    std::string error;
    EXPECT_TRUE(p->Start(argv, CleanEnv(), &error)) << error;
    return p;
  }

  std::unique_ptr<Server> server_;
};

}  // namespace switchboard::testing
