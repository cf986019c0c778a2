// sbctl's pure parts, without a server or a child process: the --server
// address normalization, the progress bar redraw, the watch resume hints,
// and the dispatcher's last-resort catch.
#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "clients/lib/server_address.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/progress_bar.h"
#include "clients/sbctl/watch_hint.h"

namespace switchboard::sbctl {
namespace {

// --- --server ------------------------------------------------------------------

TEST(NormalizeServerAddress, AHostWithoutAPortGetsTheDefaultPort) {
  struct Case {
    std::string in, want;
  };
  for (const Case& c : std::vector<Case>{
           {"localhost", "localhost:50051"},
           {"127.0.0.1", "127.0.0.1:50051"},
           {"[::1]", "[::1]:50051"},
           {"sb.example.com", "sb.example.com:50051"},
           {"host:123", "host:123"},
           {"[::1]:9000", "[::1]:9000"},
           {"127.0.0.1:65535", "127.0.0.1:65535"},
           {"unix:/run/sb.sock", "unix:/run/sb.sock"},
           {"dns:///sb.example.com:443", "dns:///sb.example.com:443"},
           {"ipv4:127.0.0.1:50051", "ipv4:127.0.0.1:50051"},
       }) {
    auto got = client::NormalizeServerAddress(c.in);
    ASSERT_TRUE(got.ok()) << c.in << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.in;
  }
}

TEST(NormalizeServerAddress, JunkIsAClearUsageError) {
  struct Case {
    std::string in, want;
  };
  for (const Case& c : std::vector<Case>{
           {"host:", "has no port after ':'; write host:PORT, or host alone for port 50051"},
           {"host:99999", "has port '99999'; a port is a number from 1 to 65535"},
           {"host:0", "a port is a number from 1 to 65535"},
           {"host:http", "has port 'http'"},
           {"host:-1", "has port '-1'"},
           {"[::1]:", "has no port after ':'"},
           {"[::1", "is not a bracketed IPv6 address"},
           {"[::1]x", "has text after ']'"},
           {"::1", "needs brackets: [::1]"},
           {":50051", "has no host"},
           {"host name", "holds a space"},
           {"host/path:1", "has '/' in the host name"},
           {"", "must not be empty"},
       }) {
    auto got = client::NormalizeServerAddress(c.in);
    ASSERT_FALSE(got.ok()) << "'" << c.in << "' was accepted as " << *got;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << c.in;
    EXPECT_TRUE(absl::StartsWith(got.status().message(), "--server: ")) << got.status();
    EXPECT_TRUE(absl::StrContains(got.status().message(), c.want)) << "want '" << c.want << "'\n" << got.status();
    EXPECT_FALSE(absl::StrContains(got.status().message(), "\n")) << got.status();
  }
}

// --- The progress bar -------------------------------------------------------------

// What a terminal shows on the current line after `written`: '\r' goes back
// to column 0, ESC [ K erases from the cursor to the end of the line, other
// characters overwrite.
std::string TerminalLine(const std::string& written) {
  std::string line;
  size_t col = 0;
  for (size_t i = 0; i < written.size(); ++i) {
    if (written[i] == '\r') {
      col = 0;
    } else if (written.compare(i, 3, "\x1b[K") == 0) {
      line.resize(col);
      i += 2;
    } else {
      if (col < line.size()) {
        line[col] = written[i];
      } else {
        line.push_back(written[i]);
      }
      ++col;
    }
  }
  return line;
}

TEST(ProgressBar, AShorterRedrawLeavesNoTailOfALongerOne) {
  std::string longer = ProgressBar(97, 7, 1, "h264: encoding 58.1 s of 60.0 s");
  std::string shorter = ProgressBar(100, 8, 0, "done");
  ASSERT_GT(longer.size(), shorter.size());
  EXPECT_EQ(TerminalLine(Redraw(longer) + Redraw(shorter)), shorter);
  // A plain carriage return would have left "...done" + the tail ("ting" of
  // "encoding..."): the simulator sees that, so the check above means something.
  EXPECT_NE(TerminalLine("\r" + longer + "\r" + shorter), shorter);
}

TEST(ProgressBar, ShowsPercentElapsedEtaAndStatus) {
  EXPECT_EQ(ProgressBar(50, 4, 4, "h264: encoding 3.0 s of 6.0 s"),
            "[###############---------------]  50%  elapsed 00:04  ETA 00:04  h264: encoding 3.0 s of 6.0 s");
  EXPECT_TRUE(absl::StrContains(ProgressBar(0, 0, -1, "starting"), "ETA --:--  starting"));
  EXPECT_TRUE(absl::StartsWith(ProgressBar(250, 0, 0, ""), "[##############################] 100%"));
  EXPECT_EQ(Clock(61.4), "01:01");
  EXPECT_EQ(Clock(-3), "00:00");
}

// --- Watch resume hints -------------------------------------------------------------

TEST(WatchHint, TheServersAdviceGivesWayToTheFlag) {
  EXPECT_EQ(WithoutResumeAdvice("watch fell more than 10 events behind the log; reconnect with after_sequence=5 to "
                                "resume without a gap"),
            "watch fell more than 10 events behind the log");
  EXPECT_EQ(WithoutResumeAdvice("server is shutting down; reconnect with after_sequence=7 to resume"),
            "server is shutting down");
  EXPECT_EQ(WithoutResumeAdvice("watch stream fell more than 1 events behind the log; open a new stream and add each "
                                "watch with after_sequence = the last sequence it got"),
            "watch stream fell more than 1 events behind the log");
  // A message about the request itself stays whole.
  EXPECT_EQ(WithoutResumeAdvice("after_sequence 50 is beyond the head of the log (3); pass a sequence you have seen"),
            "after_sequence 50 is beyond the head of the log (3); pass a sequence you have seen");
  EXPECT_EQ(WithoutResumeAdvice("NOT_FOUND; no such thing"), "NOT_FOUND; no such thing");
  EXPECT_EQ(ResumeHint("sbctl app watch", 32), "resume after sequence 32 with 'sbctl app watch --after=32'");
}

// --- The dispatcher never lets an exception out -----------------------------------------

int RunMain(const CommandRegistry& registry, std::vector<std::string> args, std::string* out, std::string* err) {
  args.insert(args.begin(), "sbctl");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream o, e;
  int code = Main(registry, static_cast<int>(args.size()), argv.data(), o, e);
  *out = o.str();
  *err = e.str();
  return code;
}

TEST(Main, AnExceptionFromACommandIsOneLineAndExitOne) {
  CommandRegistry registry;
  registry.Add({.path = "boom",
                .args = "",
                .summary = "Throws.",
                .details = "",
                .min_args = 0,
                .max_args = 0,
                .flags = nullptr,
                .run = [](Invocation&) -> int { throw std::runtime_error("bind: Address already in use"); }});
  registry.Add({.path = "bang",
                .args = "",
                .summary = "Throws something that is not a std::exception.",
                .details = "",
                .min_args = 0,
                .max_args = 0,
                .flags = nullptr,
                .run = [](Invocation&) -> int { throw 42; }});
  std::string out, err;
  EXPECT_EQ(RunMain(registry, {"boom"}, &out, &err), kExitError);
  EXPECT_EQ(err, "sbctl: boom: internal error: bind: Address already in use (please report it)\n");
  EXPECT_EQ(RunMain(registry, {"bang"}, &out, &err), kExitError);
  EXPECT_EQ(err, "sbctl: bang: internal error: unknown exception (please report it)\n");
}

}  // namespace
}  // namespace switchboard::sbctl
