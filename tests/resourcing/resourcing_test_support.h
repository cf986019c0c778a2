#pragma once
// Shared pieces of the resourcing tests: requests like the seed fixtures,
// an in-process server with resourcing settings, and waiting for a run or
// workspace to reach a state.

#include <sys/types.h>

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "server/core/executor.h"
#include "server/core/reply.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard::testing {

// A request like fixtures/datahub/resource-run-request.*.json.
v1::SubmitRunRequest FishRequest(const std::string& request_id,
                                 const std::string& module = "templates/new-workspace-template",
                                 const std::string& acronym = "FISH");

// Reads a fixture file under SB_FIXTURES_DIR.
std::string ReadFixture(const std::string& relative);

// A server config whose "resourcing" section is `resourcing_json`.
core::ServerConfig ConfigWith(const std::string& resourcing_json);

// Polls `probe` every 20 ms until it returns true or `seconds` pass.
bool WaitFor(const std::function<bool()>& probe, double seconds = 30);

inline bool IsTerminalRunState(v1::Run::State s) { return s == v1::Run::SUCCEEDED || s == v1::Run::FAILED; }

v1::Run GetRunOrDie(v1::ResourcingService::Stub& stub, const std::string& name);
v1::Workspace GetWorkspaceOrDie(v1::ResourcingService::Stub& stub, const std::string& name);

// An executor with the pools switchboardd runs (core::DefaultPools), for an
// engine started without a Server.
std::unique_ptr<core::Executor> DefaultExecutor();

// Calls an engine operation that answers through `done` and waits for the
// answer: tests only (the server never waits).
template <class T, class Call>
core::Reply<T> Await(Call call) {
  auto answer = std::make_shared<std::promise<core::Reply<T>>>();
  call([answer](core::Reply<T> r) { answer->set_value(std::move(r)); });
  return answer->get_future().get();
}

// A child process whose stdout and stderr go to `log`, in a process group of
// its own; killed (SIGKILL to the whole group: `git daemon` runs the real
// daemon as its child) and reaped when destroyed.
struct Proc {
  pid_t pid = -1;
  std::string log;
  ~Proc() { Kill(); }
  void Kill();
  std::string Log() const;
};
std::unique_ptr<Proc> Spawn(std::vector<std::string> argv, const std::string& log);

}  // namespace switchboard::testing
