// The real switchboardd binary: --help, bad flags and config, SIGTERM drain.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/core/spawn_logged.h"
#include "tests/core/test_support.h"

namespace switchboard {
namespace {

using testing::PublishOk;
using testing::TempDir;

struct Proc {
  pid_t pid = -1;
  std::string log;
  ~Proc() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  int Wait() {
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string Log() const {
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

std::unique_ptr<Proc> Spawn(const std::vector<std::string>& args, const std::string& log) {
  auto p = std::make_unique<Proc>();
  p->log = log;
  std::vector<std::string> argv = {SWITCHBOARDD_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  p->pid = testing::SpawnLogged(std::move(argv), log);
  return p;
}

int RunToExit(const std::vector<std::string>& args, const TempDir& dir, std::string* output) {
  auto p = Spawn(args, dir.path() + "/out.log");
  int code = p->Wait();
  *output = p->Log();
  return code;
}

TEST(Daemon, HelpAndBadFlags) {
  TempDir dir;
  std::string out;
  EXPECT_EQ(RunToExit({"--help"}, dir, &out), 0);
  EXPECT_NE(out.find("--grpc_address"), std::string::npos);
  EXPECT_NE(out.find("--token_file"), std::string::npos);
  EXPECT_EQ(RunToExit({"--no_such_flag=1"}, dir, &out), 2);
  EXPECT_NE(out.find("unknown flag --no_such_flag"), std::string::npos);
  EXPECT_EQ(RunToExit({"--watch_max_lag=lots"}, dir, &out), 2);
  EXPECT_NE(out.find("must be an integer"), std::string::npos);

  std::string cfg = dir.path() + "/cfg.json";
  std::ofstream(cfg) << R"({"grpc_address": "127.0.0.1:0", "colour": "blue"})";
  EXPECT_EQ(RunToExit({"--config=" + cfg}, dir, &out), 2);
  EXPECT_NE(out.find("unknown key 'colour'"), std::string::npos) << out;
}

// A loopback port held by this test (bound and listening) until it ends.
class HeldPort {
 public:
  HeldPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 1);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~HeldPort() { close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port in use is a clear error and exit 1, never a crash: the gRPC port
// (before anything runs), and the HTTP port, taken after the engines and
// the status bridge started, which then stop in order.
TEST(Daemon, ABusyPortIsAnErrorNamingItAndNoCrash) {
  TempDir dir;
  HeldPort held;
  std::string out;
  EXPECT_EQ(RunToExit({"--data_dir=" + dir.path() + "/a", "--grpc_address=" + held.address(),
                       "--http_address=127.0.0.1:0"},
                      dir, &out),
            1);
  EXPECT_NE(out.find("cannot listen on --grpc_address " + held.address()), std::string::npos) << out;
  EXPECT_EQ(RunToExit({"--data_dir=" + dir.path() + "/b", "--grpc_address=127.0.0.1:0",
                       "--http_address=" + held.address()},
                      dir, &out),
            1);
  EXPECT_NE(out.find("cannot listen on " + held.address()), std::string::npos) << out;
  EXPECT_NE(out.find("status bridge started"), std::string::npos) << "the bridge ran before the HTTP listener: " << out;
  EXPECT_EQ(out.find("refused a step"), std::string::npos) << "the bridge stopped before its pool: " << out;
}

// Waits for the "serving" log line and returns the gRPC address.
std::string AddressOf(const Proc& p) {
  std::regex re("\"grpc_address\":\"([^\"]+)\"");
  for (int i = 0; i < 100; ++i) {
    std::smatch m;
    std::string log = p.Log();
    if (std::regex_search(log, m, re)) return m[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

TEST(Daemon, AcknowledgedWritesSurviveKill9) {
  TempDir dir;
  const std::vector<std::string> args = {"--data_dir=" + dir.path() + "/data", "--grpc_address=127.0.0.1:0",
                                         "--http_address=127.0.0.1:0"};
  int64_t last = 0;
  {
    auto p = Spawn(args, dir.path() + "/a.log");
    std::string address = AddressOf(*p);
    ASSERT_FALSE(address.empty()) << p->Log();
    auto stub = v1::NotificationService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    for (int i = 0; i < 50; ++i) last = PublishOk(*stub, "k9-" + std::to_string(i));
    kill(p->pid, SIGKILL);  // no drain, no clean close
    EXPECT_EQ(p->Wait(), 128 + SIGKILL);
  }
  auto p = Spawn(args, dir.path() + "/b.log");
  std::string address = AddressOf(*p);
  ASSERT_FALSE(address.empty()) << p->Log();
  auto stub = v1::NotificationService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(PublishOk(*stub, "k9-49"), last) << "every acknowledged write is there, idempotency too";
  EXPECT_EQ(PublishOk(*stub, "after"), last + 1) << "the sequence carries on without a gap";
}

// What `top -H` and perf show for each of switchboardd's threads.
std::multiset<std::string> ThreadNames(pid_t pid) {
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.insert(name);
  }
  return names;
}

TEST(Daemon, EveryThreadItStartsIsNamedForItsJob) {
  TempDir dir;
  auto p = Spawn({"--data_dir=" + dir.path() + "/data", "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0"},
                 dir.path() + "/n.log");
  ASSERT_FALSE(AddressOf(*p).empty()) << p->Log();
  const std::multiset<std::string> names = ThreadNames(p->pid);
  std::string all;
  for (const std::string& n : names) all += n + " ";
  // Under `tools/test.sh --store=postgres` the server runs on PostgreSQL,
  // whose store has threads of its own.
  const char* store_url = std::getenv("SWITCHBOARD_TEST_STORE_URL");
  const bool on_postgres = store_url != nullptr && *store_url != '\0';
  std::vector<std::string> wanted = {"hub-wake", "sb-media",      "sb-encode", "sb-webhooks", "sb-core",
                                     "sb-git",   "sb-resourcing", "http-io",   "http-worker", "http-client"};
  if (on_postgres) {
    wanted.insert(wanted.end(), {"pg-log-writer", "pg-job-writer", "pg-done", "pg-tailer"});
  } else {
    wanted.insert(wanted.end(), {"store-writer", "store-done", "wal-checkpoint"});
  }
  for (const std::string& want : wanted) {
    EXPECT_EQ(names.count(want) > 0, true) << "no thread named " << want << "; the threads: " << all;
  }
  EXPECT_EQ(names.count("hub-wake"), 2u) << "watch_wake_threads, 2 by default: " << all;
}

TEST(Daemon, ASecondServerOnTheSameDataDirIsRefused) {
  TempDir dir;
  auto args = [&](const std::string&) {
    return std::vector<std::string>{"--data_dir=" + dir.path() + "/data", "--grpc_address=127.0.0.1:0",
                                    "--http_address=127.0.0.1:0"};
  };
  auto first = Spawn(args("a"), dir.path() + "/a.log");
  ASSERT_FALSE(AddressOf(*first).empty()) << first->Log();
  auto second = Spawn(args("b"), dir.path() + "/b.log");
  EXPECT_NE(second->Wait(), 0);
  EXPECT_NE(second->Log().find("is in use by another switchboardd"), std::string::npos) << second->Log();
  // Killed, the first releases it: a new server starts on the same data.
  kill(first->pid, SIGKILL);
  first->Wait();
  auto third = Spawn(args("c"), dir.path() + "/c.log");
  EXPECT_FALSE(AddressOf(*third).empty()) << third->Log();
}

TEST(Daemon, SigtermDrainsWatchesAndExitsCleanly) {
  TempDir dir;
  auto p = Spawn({"--data_dir=" + dir.path() + "/data", "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0"},
                 dir.path() + "/d.log");
  std::string address = AddressOf(*p);
  ASSERT_FALSE(address.empty()) << "server never logged its address: " << p->Log();
  auto stub = v1::NotificationService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  PublishOk(*stub, "before-stop");
  grpc::ClientContext ctx;
  v1::WatchEventsRequest req;
  auto reader = stub->WatchEvents(&ctx, req);
  v1::NotificationEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  kill(p->pid, SIGTERM);
  EXPECT_FALSE(reader->Read(&ev));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(p->Wait(), 0);
  std::string log = p->Log();
  EXPECT_NE(log.find("\"msg\":\"draining\""), std::string::npos);
  EXPECT_NE(log.find("\"msg\":\"stopped\""), std::string::npos);
  // Every log line is a JSON object.
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.front(), '{') << line;
    EXPECT_EQ(line.back(), '}') << line;
  }
}

}  // namespace
}  // namespace switchboard
