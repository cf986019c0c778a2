#include "tests/notification/daemon_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace switchboard::testing {

DaemonProcess::DaemonProcess(const std::string& binary, const std::string& data_dir, const std::string& log,
                             const std::vector<std::string>& flags)
    : log_(log) {
  std::vector<std::string> argv = {binary, "--data_dir=" + data_dir, "--grpc_address=127.0.0.1:0",
                                   "--http_address=127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  std::string error;
  started_ = proc_.Start(argv, Subprocess::Options{{}, {}, log, ""}, &error);
  EXPECT_TRUE(started_) << error;
}

std::string DaemonProcess::Address() {
  std::regex re("\"grpc_address\":\"([^\"]+)\"");
  for (int i = 0; started_ && i < 150; ++i) {
    std::string text = Log();
    std::smatch m;
    if (std::regex_search(text, m, re)) return m[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

void DaemonProcess::Kill9() {
  proc_.Signal(SIGKILL);
  EXPECT_EQ(proc_.Wait(std::chrono::seconds(10)), 128 + SIGKILL);
}

std::string DaemonProcess::Log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace switchboard::testing
