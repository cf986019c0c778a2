#include "tests/resourcing/resourcing_test_support.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/core/spawn_logged.h"

namespace switchboard::testing {

v1::SubmitRunRequest FishRequest(const std::string& request_id, const std::string& module,
                                 const std::string& acronym) {
  v1::SubmitRunRequest req;
  req.set_request_id(request_id);
  auto* ws = req.mutable_workspace();
  ws->set_name("Fisheries Data Lab");
  ws->set_acronym(acronym);
  ws->mutable_organization()->set_name("Fisheries and Oceans Canada");
  ws->mutable_organization()->set_code("DFO");
  auto add = [&](const char* email, const char* oid, v1::UserRole role) {
    auto* u = ws->add_users();
    u->set_email(email);
    u->set_object_id(oid);
    u->set_role(role);
  };
  add("ana.lead@dfo.example", "0b3c2a5e-8d7f-4a4e-9f51-3c1d2e4f5a6b", v1::OWNER);
  add("raj.admin@dfo.example", "7e9d1c3b-2a4f-4b6e-8c0d-1f2e3a4b5c6d", v1::ADMIN);
  add("guest@partner.example", "", v1::GUEST);
  auto* m = req.add_modules();
  m->set_name(module);
  m->set_version("latest");
  req.set_requesting_user_email("ana.lead@dfo.example");
  return req;
}

std::string ReadFixture(const std::string& relative) {
  std::ifstream in(std::string(SB_FIXTURES_DIR) + "/" + relative);
  EXPECT_TRUE(in.good()) << "missing fixture " << relative;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

core::ServerConfig ConfigWith(const std::string& resourcing_json) {
  core::ServerConfig c;
  c.resourcing_json = resourcing_json;
  return c;
}

bool WaitFor(const std::function<bool()>& probe, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return probe();
}

v1::Run GetRunOrDie(v1::ResourcingService::Stub& stub, const std::string& name) {
  grpc::ClientContext ctx;
  v1::GetRunRequest req;
  req.set_name(name);
  v1::Run run;
  grpc::Status s = stub.GetRun(&ctx, req, &run);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return run;
}

v1::Workspace GetWorkspaceOrDie(v1::ResourcingService::Stub& stub, const std::string& name) {
  grpc::ClientContext ctx;
  v1::GetWorkspaceRequest req;
  req.set_name(name);
  v1::Workspace ws;
  grpc::Status s = stub.GetWorkspace(&ctx, req, &ws);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return ws;
}

std::unique_ptr<core::Executor> DefaultExecutor() {
  auto executor = std::make_unique<core::Executor>();
  for (const auto& [name, size] : core::DefaultPools()) {
    auto pool = executor->AddPool({name, static_cast<int>(size.threads), static_cast<int>(size.queue_limit)});
    EXPECT_TRUE(pool.ok()) << pool.status();
  }
  return executor;
}

void Proc::Kill() {
  if (pid > 0) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
}

std::string Proc::Log() const {
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<Proc> Spawn(std::vector<std::string> argv, const std::string& log) {
  auto p = std::make_unique<Proc>();
  p->log = log;
  p->pid = SpawnLogged(std::move(argv), log, /*own_group=*/true);
  return p;
}

}  // namespace switchboard::testing
