#pragma once
// A real switchboardd as a child process for the kill -9 tests: loopback
// addresses on free ports, the log in a file, the gRPC address read from the
// "serving" log line.

#include <string>
#include <vector>

#include "tests/clients/subprocess.h"

namespace switchboard::testing {

class DaemonProcess {
 public:
  // Starts `binary` on `data_dir` with `flags` besides the addresses; its
  // log goes to `log`. A failed start fails the test.
  DaemonProcess(const std::string& binary, const std::string& data_dir, const std::string& log,
                const std::vector<std::string>& flags);
  // Waits for the "serving" log line and returns the gRPC address ("" when
  // it does not come within 15 s).
  std::string Address();
  // SIGKILL; the test fails unless the process dies of it.
  void Kill9();
  std::string Log() const;

 private:
  std::string log_;
  Subprocess proc_;
  bool started_ = false;
};

}  // namespace switchboard::testing
