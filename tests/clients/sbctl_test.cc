// sbctl end to end: the real sbctl binary against the real switchboardd,
// started on port 0 with a temporary data directory. Every child process is
// owned by an RAII Subprocess and every read has a deadline, so a broken
// server or client fails the test instead of hanging it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/clients/sbctl_harness.h"
#include "tests/clients/subprocess.h"

namespace switchboard::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kFixtures = std::string(SB_FIXTURES_DIR) + "/gorg/";
const std::string kCreateFixture = kFixtures + "request.gapps.account.create.json";
const std::string kNotifyFixture = kFixtures + "notify.gapps.account.updated.json";
constexpr char kCreateUuid[] = "88d818a1-c77c-44e6-ad0c-8aa893468e94";
constexpr char kNotifyUuid[] = "3f1e2d4c-5b6a-4978-8a1b-2c3d4e5f6a7b";

// --- No server needed -------------------------------------------------------

TEST(SbctlHelp, TopLevelListsCommandsAndGlobalFlags) {
  for (const char* flag : {"--help", "-h"}) {
    RunResult r = Sbctl({flag});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    for (const char* want :
         {"Usage: sbctl", "Commands:", "health", "watch SERVICE", "bus publish", "bus get", "bus events", "--server",
          "SWITCHBOARD_SERVER", "--token", "SWITCHBOARD_TOKEN", "--tls_ca", "--json", "--timeout", "Exit codes"}) {
      EXPECT_TRUE(absl::StrContains(r.out, want)) << "missing '" << want << "'\n" << Describe(r);
    }
  }
}

TEST(SbctlHelp, EachCommandDescribesItsFlags) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> want;
  };
  std::vector<Case> cases = {
      {{"health", "--help"}, {"sbctl health [SERVICE]", "SERVING", "--server"}},
      {{"watch", "--help"}, {"sbctl watch SERVICE", "--after", "--follow", "resume"}},
      {{"bus", "publish", "--help"}, {"sbctl bus publish", "--file", "--request_id"}},
      {{"bus", "get", "--help"}, {"sbctl bus get NAME|EVENT_UUID"}},
      {{"bus", "events", "--help"}, {"--binding", "--limit", "--page_size"}},
      {{"help", "bus", "events"}, {"--binding"}},
      {{"bus", "--help"}, {"bus publish", "bus get", "bus events"}},
      {{"run", "list", "--help"}, {"sbctl run list", "--workspace", "--limit", "--page_size", "--json"}},
      {{"run", "--help"}, {"run list", "run get", "run watch"}},
      {{"webhook", "listen", "--help"}, {"--port", "0 = a free port"}},
  };
  for (const auto& c : cases) {
    RunResult r = Sbctl(c.args);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    for (const auto& w : c.want) EXPECT_TRUE(absl::StrContains(r.out, w)) << "missing '" << w << "'\n" << Describe(r);
  }
}

// Every command's help works, and none points outside the repository.
TEST(SbctlHelp, EveryCommandHasHelpThatStaysInTheRepository) {
  RunResult top = Sbctl({"--help"});
  ASSERT_EQ(top.exit_code, 0) << Describe(top);
  // "  bus publish --file=ENVELOPE.json  Publish ...": the command words are
  // the lowercase words before the arguments and the summary.
  std::vector<std::vector<std::string>> commands;
  std::istringstream lines(top.out.substr(top.out.find("Commands:\n") + 10));
  for (std::string line; std::getline(lines, line) && absl::StartsWith(line, "  ");) {
    std::vector<std::string> words;
    std::istringstream tokens(line);
    for (std::string t; tokens >> t;) {
      if (t.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") != std::string::npos || t[0] == '-') break;
      words.push_back(t);
    }
    commands.push_back(words);
  }
  ASSERT_GT(commands.size(), 40u) << top.out;
  bool saw_run_list = false;
  for (auto args : commands) {
    saw_run_list = saw_run_list || args == std::vector<std::string>{"run", "list"};
    std::string name = absl::StrJoin(args, " ");
    args.push_back("--help");
    RunResult r = Sbctl(args);
    EXPECT_EQ(r.exit_code, 0) << name << "\n" << Describe(r);
    EXPECT_TRUE(absl::StrContains(r.out, "sbctl " + name)) << Describe(r);
    // Written in pieces so that Repo.SelfContained does not find them here.
    for (const char* outside : {"WIRE" ".md", ".." "/shared", "/work" "/"}) {
      EXPECT_FALSE(absl::StrContains(r.out, outside)) << name << " mentions " << outside << "\n" << r.out;
    }
  }
  EXPECT_TRUE(saw_run_list) << top.out;
}

TEST(SbctlUsage, MistakesExitWithTwoAndOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  std::vector<Case> cases = {
      {{}, "Usage: sbctl"},
      {{"frobnicate"}, "sbctl: unknown command 'frobnicate'"},
      {{"bus"}, "sbctl: bus: missing command"},
      {{"bus", "frob"}, "sbctl: bus: unknown command 'frob'"},
      {{"watch"}, "sbctl: watch: missing argument SERVICE"},
      {{"watch", "printers"}, "sbctl: watch: unknown service 'printers'"},
      {{"watch", "media", "--after=-3"}, "--after must be 0 or more"},
      {{"health", "--bogus"}, "unknown flag --bogus"},
      {{"health", "--timeout=abc"}, "--timeout must be an integer"},
      {{"bus", "publish"}, "--file is required"},
      {{"bus", "publish", "--file=/nonexistent/envelope.json"}, "NOT_FOUND: --file: cannot read"},
      {{"health", "--server=localhost:"}, "--server: 'localhost:' has no port after ':'"},
      {{"health", "--server=localhost:99999"}, "a port is a number from 1 to 65535"},
      {{"bus", "events", "--server=::1"}, "needs brackets: [::1]"},
      {{"run", "list", "--page_size=0"}, "--page_size must be 1 to 1000"},
      {{"run", "list", "--limit=-1"}, "--limit must be 0 (no limit) or more"},
  };
  for (const auto& c : cases) {
    RunResult r = Sbctl(c.args);
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_TRUE(absl::StrContains(r.err, c.want)) << "want '" << c.want << "'\n" << Describe(r);
  }
}

TEST(SbctlUnreachable, ExitsThreeWithAClearMessage) {
  std::string server = absl::StrCat("127.0.0.1:", FreePort());
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"health"}, {"bus", "events"}, {"bus", "publish", "--file=" + kCreateFixture}, {"watch", "media"}}) {
    args.push_back("--server=" + server);
    RunResult r = Sbctl(args);
    EXPECT_EQ(r.exit_code, 3) << Describe(r);
    EXPECT_TRUE(absl::StrContains(r.err, "UNAVAILABLE: cannot reach switchboardd at " + server)) << Describe(r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line\n" << Describe(r);
  }
  // The same through SWITCHBOARD_SERVER.
  RunResult r = Sbctl({"health"}, CleanEnv({{"SWITCHBOARD_SERVER", server}}));
  EXPECT_EQ(r.exit_code, 3) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, server)) << Describe(r);
}

// A host without a port means switchboardd's port, 50051, not gRPC's 443;
// from --server and from SWITCHBOARD_SERVER alike. 127.0.0.2 is loopback,
// where no test server listens (they bind 127.0.0.1).
TEST(SbctlServer, AHostWithoutAPortDialsTheDefaultPort) {
  std::vector<RunResult> runs = {Sbctl({"health", "--server=127.0.0.2", "--timeout=5"}),
                                 Sbctl({"health", "--timeout=5"}, CleanEnv({{"SWITCHBOARD_SERVER", "127.0.0.2"}}))};
  for (const RunResult& r : runs) {
    if (r.exit_code == 0) continue;  // something serves 127.0.0.2:50051 (then it was dialed)
    EXPECT_EQ(r.exit_code, 3) << Describe(r);
    EXPECT_TRUE(absl::StrContains(r.err, "cannot reach switchboardd at 127.0.0.2:50051:")) << Describe(r);
  }
  RunResult r = Sbctl({"health"}, CleanEnv({{"SWITCHBOARD_SERVER", "127.0.0.2:"}}));
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "--server: '127.0.0.2:' has no port")) << Describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line\n" << Describe(r);
}

// --- Against a server --------------------------------------------------------

TEST_F(SbctlTest, HealthServing) {
  RunResult r = Ctl({"health"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "SERVICE")) << Describe(r);
  for (const char* s : {"(server)", "switchboard.v1.ResourcingService", "switchboard.v1.MediaService",
                        "switchboard.v1.NotificationService"}) {
    EXPECT_TRUE(absl::StrContains(r.out, s)) << Describe(r);
  }
  EXPECT_FALSE(absl::StrContains(r.out, "NOT_SERVING")) << Describe(r);

  r = Ctl({"health", "switchboard.v1.NotificationService", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json j = json::parse(r.out, nullptr, false);
  EXPECT_EQ(j, (json{{"service", "switchboard.v1.NotificationService"}, {"status", "SERVING"}})) << Describe(r);

  r = Ctl({"health", "no.such.Service"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "sbctl: health: NOT_FOUND:")) << Describe(r);
}

TEST_F(SbctlTest, PublishThenGet) {
  RunResult r = Ctl({"bus", "publish", "--file=" + kCreateFixture});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("published busEvents/", kCreateUuid))) << Describe(r);

  // Text: the header and the envelope as it travels on the bus.
  r = Ctl({"bus", "get", kCreateUuid});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  for (const char* want :
       {"busEvents/88d818a1-c77c-44e6-ad0c-8aa893468e94", "\"event_name\": \"request.gapps.account.create\"",
        "\"error_type\": \"softerror\"", "\"event_creation_time\": \"2016-05-29T15:03:50+00:00\""}) {
    EXPECT_TRUE(absl::StrContains(r.out, want)) << "missing " << want << "\n" << Describe(r);
  }

  // JSON, by full name: the envelope matches the fixture.
  r = Ctl({"bus", "get", absl::StrCat("busEvents/", kCreateUuid), "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json got = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(got.is_object()) << Describe(r);
  json want = json::parse(ReadFile(kCreateFixture));
  const json& env = got["envelope"];
  EXPECT_EQ(got["name"], absl::StrCat("busEvents/", kCreateUuid));
  for (const char* key : {"event_uuid", "event_name", "event_sender_id", "data", "errors_count"}) {
    EXPECT_EQ(env[key], want[key]) << key;
  }
  EXPECT_EQ(env["errors"][0]["error_type"], "SOFTERROR");  // proto JSON spells the enum
  EXPECT_EQ(env["errors"][0]["error_message"], "Google API Unavailable");

  r = Ctl({"bus", "get", "no-such-uuid"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "sbctl: bus get: NOT_FOUND:")) << Describe(r);
}

TEST_F(SbctlTest, PublishTwiceReturnsTheFirstResultAndSaysItIsAReplay) {
  RunResult a = Ctl({"bus", "publish", "--file=" + kNotifyFixture, "--json"});
  RunResult b = Ctl({"bus", "publish", "--file=" + kNotifyFixture, "--json"});
  ASSERT_EQ(a.exit_code, 0) << Describe(a);
  ASSERT_EQ(b.exit_code, 0) << Describe(b);
  json first = json::parse(a.out, nullptr, false), again = json::parse(b.out, nullptr, false);
  ASSERT_TRUE(first.is_object() && again.is_object()) << a.out << b.out;
  EXPECT_EQ(first["replayed"], false) << a.out;
  EXPECT_EQ(again["replayed"], true) << b.out;
  first.erase("replayed");
  again.erase("replayed");
  EXPECT_EQ(first, again) << "the repeat answers the first result: " << a.out << b.out;

  // Text: the repeat does not claim it was queued now.
  RunResult c = Ctl({"bus", "publish", "--file=" + kNotifyFixture});
  ASSERT_EQ(c.exit_code, 0) << Describe(c);
  EXPECT_TRUE(absl::StrContains(c.out, absl::StrCat("already published busEvents/", kNotifyUuid, " (sequence ",
                                                    first["sequence"].get<std::string>(), ")")))
      << Describe(c);
  EXPECT_FALSE(absl::StrContains(c.out, "queued on")) << Describe(c);
}

TEST_F(SbctlTest, PublishFromStdin) {
  Subprocess::Options o = CleanEnv();
  o.stdin_data = ReadFile(kNotifyFixture);
  RunResult r = Ctl({"bus", "publish", "--file=-"}, o);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, kNotifyUuid)) << Describe(r);
}

TEST_F(SbctlTest, PublishBadFileNamesTheField) {
  json bad = json::parse(ReadFile(kCreateFixture));
  bad["errors"][0]["error_type"] = "fatal";
  std::string path = server_->dir().Write("bad.json", bad.dump());
  RunResult r = Ctl({"bus", "publish", "--file=" + path});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.err,
            "sbctl: bus publish: INVALID_ARGUMENT: errors[0].error_type: 'fatal' is not one of debug, info, "
            "warning, softerror, harderror\n")
      << Describe(r);

  bad = json::parse(ReadFile(kCreateFixture));
  bad["event_name"] = "request..create";
  r = Ctl({"bus", "publish", "--file=" + server_->dir().Write("bad2.json", bad.dump())});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "event_name: 'request..create' has an empty word")) << Describe(r);

  r = Ctl({"bus", "publish", "--file=" + server_->dir().Write("bad3.json", "{\"event_uuid\": ")});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "sbctl: bus publish: INVALID_ARGUMENT: invalid JSON")) << Describe(r);

  // Nothing reached the bus.
  r = Ctl({"bus", "events", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "") << Describe(r);
}

TEST_F(SbctlTest, BusEventsListsAndFilters) {
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kCreateFixture}).exit_code, 0);
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kNotifyFixture}).exit_code, 0);
  RunResult r = Ctl({"bus", "events"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "EVENT_NAME")) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, kCreateUuid)) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, kNotifyUuid)) << Describe(r);

  // Paging: one event per call still lists both.
  r = Ctl({"bus", "events", "--json", "--page_size=1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << Describe(r);

  r = Ctl({"bus", "events", "--binding=notify.#", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, kNotifyUuid)) << Describe(r);
  EXPECT_FALSE(absl::StrContains(r.out, kCreateUuid)) << Describe(r);

  r = Ctl({"bus", "events", "--limit=1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << Describe(r);
}

TEST_F(SbctlTest, WatchReplaysThePublishedEvent) {
  RunResult pub = Ctl({"bus", "publish", "--file=" + kCreateFixture});
  ASSERT_EQ(pub.exit_code, 0) << Describe(pub);
  auto watch = StartWatch({"notification", "--after", "0", "--json"});
  std::optional<std::string> line = watch->ReadLine(15s);
  watch->Stop(1s);
  ASSERT_TRUE(line.has_value()) << "no event within 15 s; stderr:\n" << watch->err();
  json event = json::parse(*line, nullptr, false);
  ASSERT_TRUE(event.is_object()) << *line;
  EXPECT_EQ(event["sequence"], "1") << *line;
  EXPECT_EQ(event["bus_event"]["envelope"]["event_uuid"], kCreateUuid) << *line;
  EXPECT_EQ(event["bus_event"]["envelope"]["event_name"], "request.gapps.account.create") << *line;
}

TEST_F(SbctlTest, WatchPrintsLiveEventsAsText) {
  auto watch = StartWatch({"notification"});
  // Give the watch time to connect; it must print the event whether it
  // arrives during replay or live.
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kNotifyFixture}).exit_code, 0);
  std::optional<std::string> line = watch->ReadLine(15s);
  watch->Stop(1s);
  ASSERT_TRUE(line.has_value()) << "no event within 15 s; stderr:\n" << watch->err();
  EXPECT_TRUE(absl::StartsWith(*line, "#1  ")) << *line;
  EXPECT_TRUE(absl::StrContains(*line, "  bus_event  {")) << *line;
  EXPECT_TRUE(absl::StrContains(*line, kNotifyUuid)) << *line;
}

// A stream that breaks without a resume point from the server (a crash, a
// reset connection) names the last event printed as the place to go on.
TEST_F(SbctlTest, WatchBrokenByAServerCrashNamesTheLastEventPrinted) {
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kCreateFixture}).exit_code, 0);
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kNotifyFixture}).exit_code, 0);
  auto watch = StartWatch({"notification", "--after=0", "--json"});
  ASSERT_TRUE(watch->ReadLine(15s).has_value()) << watch->err();
  ASSERT_TRUE(watch->ReadLine(15s).has_value()) << watch->err();
  server_->Kill();
  std::optional<int> code = watch->Wait(15s);
  ASSERT_TRUE(code.has_value()) << "the watch did not end after the server's kill -9";
  watch->ReadAll(5s);
  EXPECT_EQ(*code, 3) << watch->err();
  EXPECT_TRUE(absl::StrContains(watch->err(), "sbctl: watch: UNAVAILABLE: cannot reach switchboardd")) << watch->err();
  EXPECT_TRUE(absl::StrContains(watch->err(), "; resume after sequence 2 with 'sbctl watch notification --after=2', "
                                              "or add --follow to reconnect automatically"))
      << watch->err();
}

TEST_F(SbctlTest, WatchBeyondTheHeadIsOutOfRange) {
  RunResult r = Ctl({"watch", "media", "--after=50"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "sbctl: watch: OUT_OF_RANGE:")) << Describe(r);
}

TEST_F(SbctlTest, WatchWithResourcesPrintsOnlyTheirEventsOverWatchMany) {
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kCreateFixture}).exit_code, 0);
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kNotifyFixture}).exit_code, 0);
  const std::string wanted = std::string("busEvents/") + kNotifyUuid;
  auto watch = StartWatch({"notification", "--resource=" + wanted + ",busEvents/not-published-yet"});
  std::optional<std::string> line = watch->ReadLine(15s);
  std::optional<std::string> more = watch->ReadLine(500ms);
  watch->Stop(1s);
  ASSERT_TRUE(line.has_value()) << "no event within 15 s; stderr:\n" << watch->err();
  EXPECT_TRUE(absl::StartsWith(*line, "[" + wanted + "]  #2  ")) << *line;
  EXPECT_TRUE(absl::StrContains(*line, kNotifyUuid)) << *line;
  EXPECT_FALSE(more.has_value()) << "the other event is about no watched resource: " << *more;

  RunResult r = Ctl({"watch", "notification", "--resource=" + wanted, "--after=50"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "add.after_sequence 50 is beyond the head")) << Describe(r);
}

// `sbctl run list` shows submitted runs: a table, --json, the workspace
// filter and the paging flags.
TEST_F(SbctlTest, RunListShowsSubmittedRuns) {
  const std::string request = std::string(SB_FIXTURES_DIR) + "/datahub/resource-run-request.new-workspace.json";
  std::vector<std::string> names;
  for (const char* id : {"run-list-a", "run-list-b"}) {
    RunResult r = Ctl({"workspace", "request", "--file=" + request, "--request_id=" + std::string(id), "--json"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    json run = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(run.is_object()) << r.out;
    names.push_back(run.value("name", ""));
  }
  ASSERT_NE(names[0], names[1]);

  RunResult r = Ctl({"run", "list"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StartsWith(r.out, "NAME")) << r.out;
  for (const char* column : {"STATE", "WORKSPACE", "TEMPLATES", "REQUESTED BY", "CREATED"}) {
    EXPECT_TRUE(absl::StrContains(r.out.substr(0, r.out.find('\n')), column)) << r.out;
  }
  for (const auto& name : names) EXPECT_TRUE(absl::StrContains(r.out, name + " ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "workspaces/FISH")) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3) << "header and two rows\n" << r.out;

  // --json, one page at a time: both runs, each once.
  r = Ctl({"run", "list", "--json", "--page_size=1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::set<std::string> seen;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    json run = json::parse(line, nullptr, false);
    ASSERT_TRUE(run.is_object()) << line;
    EXPECT_EQ(run.value("workspace", ""), "workspaces/FISH") << line;
    EXPECT_TRUE(seen.insert(run.value("name", "")).second) << "repeated: " << line;
  }
  EXPECT_EQ(seen, std::set<std::string>(names.begin(), names.end())) << r.out;

  r = Ctl({"run", "list", "--json", "--limit=1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  r = Ctl({"run", "list", "--json", "--workspace=FISH"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  r = Ctl({"run", "list", "--json", "--workspace=workspaces/NOPE"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "");
}

// The README's resourcing block: follow a run only until it waits for
// approval, approve the workspace's one active pull request without knowing
// its name, then follow the run to its end.
TEST_F(SbctlTest, RequestUntilAwaitingApprovalThenApproveByWorkspace) {
  const std::string request = std::string(SB_FIXTURES_DIR) + "/datahub/resource-run-request.new-workspace.json";
  RunResult r = Ctl({"workspace", "request", "--file=" + request, "--request_id=until-1", "--until=BOGUS", "--watch"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "--until must be a run state (")) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "AWAITING_APPROVAL")) << Describe(r);
  r = Ctl({"workspace", "request", "--file=" + request, "--request_id=until-1", "--until=AWAITING_APPROVAL"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "--until needs --watch")) << Describe(r);

  r = Ctl({"pr", "approve", "--workspace=FISH"});
  EXPECT_EQ(r.exit_code, 2) << "no pull request yet\n" << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "has no active pull request")) << Describe(r);

  r = Ctl({"workspace", "request", "--file=" + request, "--request_id=until-1", "--watch",
           "--until=awaiting_approval"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "AWAITING_APPROVAL")) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "SUCCEEDED")) << "stopped before the run went on\n" << r.out;
  const size_t at = r.out.find("runs/");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string run = r.out.substr(at, r.out.find_first_of(" \n", at) - at);

  r = Ctl({"pr", "approve", "pullRequests/1", "--workspace=FISH"});
  EXPECT_EQ(r.exit_code, 2) << "a name and --workspace together\n" << Describe(r);
  r = Ctl({"pr", "approve", "--workspace=FISH"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "MERGED")) << r.out;

  r = Ctl({"run", "watch", run});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "SUCCEEDED")) << r.out;
  r = Ctl({"pr", "approve", "--workspace=workspaces/FISH"});
  EXPECT_EQ(r.exit_code, 2) << "merged: nothing active any more\n" << Describe(r);
}

// `watch --limit=N` prints N events of the log and exits 0 instead of
// following it.
TEST_F(SbctlTest, WatchWithALimitStopsAfterThatManyEvents) {
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kCreateFixture}).exit_code, 0);
  ASSERT_EQ(Ctl({"bus", "publish", "--file=" + kNotifyFixture}).exit_code, 0);
  RunResult r = Ctl({"watch", "notification", "--after=0", "--limit=1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_TRUE(absl::StartsWith(r.out, "#1 ")) << r.out;
  r = Ctl({"watch", "notification", "--after=0", "--limit=2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  r = Ctl({"watch", "notification", "--limit=-1"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
}

// --- Authentication -----------------------------------------------------------

TEST(SbctlAuth, SendsTheBearerToken) {
  TempDir dir;
  std::string tokens = dir.Write(
      "tokens.json", R"({"tokens": [{"token": "s3cret-token", "principal": "ci-bot", "roles": ["operator"]}]})");
  Server server({"--token_file=" + tokens});
  ASSERT_TRUE(server.Start());
  std::string flag = "--server=" + server.address();

  RunResult r = Sbctl({"bus", "events", flag});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "UNAUTHENTICATED")) << Describe(r);

  r = Sbctl({"bus", "events", flag, "--token=wrong"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "UNAUTHENTICATED")) << Describe(r);

  r = Sbctl({"bus", "publish", "--file=" + kNotifyFixture, flag}, CleanEnv({{"SWITCHBOARD_TOKEN", "s3cret-token"}}));
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  r = Sbctl({"bus", "get", kNotifyUuid, flag, "--token=s3cret-token", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(json::parse(r.out, nullptr, false)["publisher"], "ci-bot") << Describe(r);
  // The token never shows up in sbctl's output.
  EXPECT_FALSE(absl::StrContains(r.out + r.err, "s3cret-token"));
}

TEST(SbctlTls, VerifiesTheServerWithTheGivenCa) {
  TempDir dir;
  TestCertificate made = MakeTestCertificate(dir.path());
  ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << Describe(made.result);
  const std::string& cert = made.cert;
  const std::string& key = made.key;
  Server server({"--tls_cert_file=" + cert, "--tls_key_file=" + key});
  ASSERT_TRUE(server.Start());
  RunResult r = Sbctl({"health", "--server=" + server.address(), "--tls_ca=" + cert});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  // Plaintext to a TLS server cannot connect.
  r = Sbctl({"health", "--server=" + server.address()});
  EXPECT_EQ(r.exit_code, 3) << Describe(r);
  // A file that is not a certificate is a usage error.
  r = Sbctl({"health", "--server=" + server.address(), "--tls_ca=" + key});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.err, "holds no PEM certificate")) << Describe(r);
}

// --- Lagging watchers ---------------------------------------------------------

// A server that ends a live watcher once it is more than one event behind.
// The watcher is frozen with SIGSTOP while events far larger than the socket
// buffers are published, so the server's write cannot complete and the
// watcher must fall behind.
//
// The freeze must stay well under 20 s: a connection whose peer has read
// nothing for about that long while data waits for it is reset (gRPC's
// TCP_USER_TIMEOUT, its keepalive timeout), and the watch then ends with
// UNAVAILABLE, not the server's ABORTED (docs/api.md, "The event log and watches"). Each
// event is an sbctl run, which takes a second or more under TSan in a busy
// suite, so these publish few, large events.
class SbctlLagTest : public SbctlTest {
 protected:
  std::vector<std::string> ServerFlags() const override { return {"--watch_max_lag=1"}; }

  // Publishes `n` envelopes of ~1.5 MB each; returns their uuids.
  std::vector<std::string> PublishBig(int n) {
    std::vector<std::string> uuids;
    json env = json::parse(ReadFile(kNotifyFixture));
    env["data"] = json{{"blob", std::string(1500000, 'x')}};
    for (int i = 0; i < n; ++i) {
      env["event_uuid"] = absl::StrCat("big-", i);
      std::string path = server_->dir().Write(absl::StrCat("big", i, ".json"), env.dump());
      RunResult r = Ctl({"bus", "publish", "--file=" + path});
      EXPECT_EQ(r.exit_code, 0) << Describe(r);
      uuids.push_back(absl::StrCat("big-", i));
    }
    return uuids;
  }

  // Starts a live watch (one small event already seen) and freezes it.
  std::unique_ptr<Subprocess> FrozenLiveWatch(std::vector<std::string> flags) {
    EXPECT_EQ(Ctl({"bus", "publish", "--file=" + kCreateFixture}).exit_code, 0);
    std::vector<std::string> args = {"notification", "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    auto watch = StartWatch(args);
    auto first = watch->ReadLine(15s);
    EXPECT_TRUE(first.has_value()) << watch->err();
    watch->Signal(SIGSTOP);
    return watch;
  }
};

// 9 MB in all; a frozen client's socket buffers took about 4.5 MB here.
constexpr int kBigEvents = 6;

TEST_F(SbctlLagTest, WatchEndsWithTheResumePoint) {
  auto watch = FrozenLiveWatch({});
  PublishBig(kBigEvents);
  watch->Signal(SIGCONT);
  int64_t last = 1;
  while (auto line = watch->ReadLine(30s)) {
    json e = json::parse(*line, nullptr, false);
    last = std::stoll(e.value("sequence", "0"));
  }
  std::optional<int> code = watch->Wait(10s);
  ASSERT_TRUE(code.has_value()) << "watch did not end";
  watch->ReadAll(5s);
  EXPECT_EQ(*code, 1) << watch->err();
  EXPECT_LT(last, kBigEvents + 1) << "the watch never lagged";
  EXPECT_TRUE(absl::StrContains(watch->err(), "sbctl: watch: ABORTED: ")) << watch->err();
  EXPECT_TRUE(absl::StrContains(watch->err(), absl::StrCat("resume after sequence ", last,
                                                           " with 'sbctl watch notification --after=", last, "'")))
      << watch->err();
  // The server's advice for API clients ("reconnect with after_sequence=N")
  // is not passed on: sbctl's flag is --after.
  EXPECT_FALSE(absl::StrContains(watch->err(), "after_sequence")) << watch->err();
  EXPECT_EQ(std::count(watch->err().begin(), watch->err().end(), '\n'), 1) << watch->err();
}

// `sbctl app watch` ends the same way, and its hint names --after too.
TEST_F(SbctlLagTest, AppWatchEndsWithAnAfterHint) {
  json note = json::parse(ReadFile(std::string(SB_FIXTURES_DIR) + "/managedapp/put-failed.marketplace.json"));
  auto record = [&](int i, size_t size) {
    note["eventTime"] = absl::StrFormat("2026-11-22T11:%02d:%02d.0000000Z", i / 60, i % 60);
    note["error"]["message"] = std::string(size, 'x');
    std::string path = server_->dir().Write(absl::StrCat("app", i, ".json"), note.dump());
    RunResult r = Ctl({"app", "record", "--file=" + path});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
  };
  record(0, 10);
  Subprocess watch;
  std::string error;
  ASSERT_TRUE(watch.Start({SBCTL_PATH, "app", "watch", "--json", "--server=" + server_->address()}, CleanEnv(), &error))
      << error;
  ASSERT_TRUE(watch.ReadLine(15s).has_value()) << watch.err();
  watch.Signal(SIGSTOP);
  // Each event carries the application with its whole history, so these
  // grow to ~2.8 MB each, 11 MB in all: far more than the socket buffers
  // hold. Few records, so that the freeze is short (above).
  for (int i = 1; i <= 7; ++i) record(i, 400000);
  watch.Signal(SIGCONT);
  int64_t last = 1;
  while (auto line = watch.ReadLine(30s)) {
    json e = json::parse(*line, nullptr, false);
    last = std::stoll(e.value("sequence", "0"));
  }
  std::optional<int> code = watch.Wait(10s);
  ASSERT_TRUE(code.has_value()) << "app watch did not end";
  watch.ReadAll(5s);
  EXPECT_EQ(*code, 1) << watch.err();
  EXPECT_TRUE(absl::StartsWith(watch.err(), "sbctl: app watch: ABORTED: ")) << watch.err();
  const std::string hint = "with 'sbctl app watch --after=";
  size_t at = watch.err().find(hint);
  ASSERT_NE(at, std::string::npos) << watch.err();
  int64_t resume = std::atoll(watch.err().c_str() + at + hint.size());
  EXPECT_GE(resume, last) << watch.err();
  EXPECT_TRUE(absl::StrContains(watch.err(), absl::StrCat("resume after sequence ", resume, " ", hint, resume, "'")))
      << watch.err();
  EXPECT_FALSE(absl::StrContains(watch.err(), "after_sequence")) << watch.err();
}

TEST_F(SbctlLagTest, FollowResumesWithoutGapsOrRepeats) {
  auto watch = FrozenLiveWatch({"--follow"});
  std::vector<std::string> uuids = PublishBig(kBigEvents);
  watch->Signal(SIGCONT);
  std::vector<std::string> seen;
  int64_t expect_seq = 2;
  while (static_cast<int>(seen.size()) < kBigEvents) {
    auto line = watch->ReadLine(30s);
    ASSERT_TRUE(line.has_value()) << "stopped after " << seen.size() << " events; stderr:\n" << watch->err();
    json e = json::parse(*line, nullptr, false);
    ASSERT_EQ(std::stoll(e.value("sequence", "0")), expect_seq++) << "gap or repeat";
    seen.push_back(e["bus_event"]["envelope"]["event_uuid"].get<std::string>());
  }
  watch->Stop(1s);
  watch->ReadAll(2s);
  EXPECT_EQ(seen, uuids);
  EXPECT_TRUE(absl::StrContains(watch->err(), "reconnecting after sequence")) << "the watch never lagged:\n"
                                                                              << watch->err();
}

}  // namespace
}  // namespace switchboard::testing
