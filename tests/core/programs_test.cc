// External programs are looked up like execvp does, and a missing one is
// named with its config key (server/core/programs.h).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "server/core/programs.h"
#include "tests/core/test_support.h"

namespace switchboard::core {
namespace {

using testing::TempDir;

// Sets PATH for the scope of one test.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    const char* old = std::getenv("PATH");
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (had_) ::setenv("PATH", old_.c_str(), 1);
    else ::unsetenv("PATH");
  }

 private:
  bool had_ = false;
  std::string old_;
};

std::string WriteFile(const std::string& path, mode_t mode) {
  std::ofstream(path) << "#!/bin/sh\nexit 0\n";
  ::chmod(path.c_str(), mode);
  return path;
}

TEST(Programs, APathIsTakenAsItIs) {
  TempDir dir;
  std::string tool = WriteFile(dir.path() + "/tool", 0755);
  auto found = FindProgram(tool);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, tool);
  EXPECT_TRUE(absl::IsNotFound(FindProgram(dir.path() + "/nope").status()));
  std::string plain = WriteFile(dir.path() + "/plain", 0644);
  EXPECT_TRUE(absl::IsPermissionDenied(FindProgram(plain).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(FindProgram(dir.path()).status())) << "a folder is no program";
}

TEST(Programs, ABareNameIsLookedUpOnPathInOrder) {
  TempDir a, b;
  WriteFile(a.path() + "/plain-only-here", 0644);
  std::string second = WriteFile(b.path() + "/mytool", 0755);
  ScopedPath path(a.path() + ":" + b.path());
  auto found = FindProgram("mytool");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, second);
  auto missing = FindProgram("no-such-tool-anywhere");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_NE(missing.status().message().find(a.path()), std::string::npos) << "says where it looked";
  EXPECT_TRUE(absl::IsPermissionDenied(FindProgram("plain-only-here").status()));
}

TEST(Programs, CheckProgramNamesTheProgramAndTheKeyToSet) {
  absl::Status s = CheckProgram("/nonexistent/ffmpeg", "media.ffmpeg_path", "used by the encoder flip").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_EQ(s.message(),
            "program '/nonexistent/ffmpeg' (media.ffmpeg_path, used by the encoder flip) does not exist; "
            "install it or set media.ffmpeg_path");
  EXPECT_TRUE(CheckProgram("sh", "x", "").ok()) << "sh is on every PATH";
}

}  // namespace
}  // namespace switchboard::core
