// sb_bench_resourcing: run latency of the resourcing service against the
// anchor's method, side by side, at two repository sizes (docs/performance.md,
// section "Resourcing: run latency against the anchor").
//
// For each size N (default 10 and 1000), one bare infrastructure repository
// holds N workspaces (terraform/projects/W0001..), and one bare modules
// repository holds the example templates. Both sides then add
// azure-storage-blob to one workspace at a time (a different one each
// iteration, so every iteration makes a real commit):
//  * Switchboard: an in-process switchboardd (real SQLite, libgit2 mirrors,
//    pipeline off) — latency from SubmitRun until the run's IN_PROGRESS event
//    arrives on WatchRun, i.e. the commit is on the remote's main.
//  * Anchor: what the seeds' resource provisioner does per message — a fresh
//    `git clone` of both repositories (over file://, so git packs and copies
//    objects as it would from a server), copy the template, write tfvars,
//    `git commit`, `git push`.
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/cli.h"
#include "server/server.h"
#include "switchboard/v1/resourcing.grpc.pb.h"

namespace fs = std::filesystem;
namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;

namespace {

std::string Acronym(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "W%04d", i);
  return buf;
}

// Runs `script` with sh; false (and a message naming `what`) when it fails.
bool Shell(const std::string& what, const std::string& script) {
  setenv("SB_BENCH_SCRIPT", script.c_str(), 1);
  int rc = std::system("sh -c \"$SB_BENCH_SCRIPT\"");
  if (rc != 0) std::cerr << what << ": the git script failed (" << rc << ")\n";
  return rc == 0;
}

// A bare repository at `path` whose branch main holds one commit, "Initial
// commit" by seed <seed@x.ca>, of every file under `seed_dir` (recursively;
// "" for none) and `files`. The git CLI writes it as the server's own seeding
// did (loose objects, straight into the bare repository); nothing is done
// when `path` already holds one.
bool SeedBare(const std::string& path, const std::string& seed_dir,
              const std::vector<std::pair<std::string, std::string>>& files) {
  if (fs::exists(path + "/HEAD")) return true;
  const std::string tree = path + ".seed";
  std::error_code ec;
  fs::remove_all(tree, ec);
  fs::create_directories(tree);
  if (!seed_dir.empty()) {
    fs::copy(seed_dir, tree, fs::copy_options::recursive, ec);
    if (ec) return std::cerr << "seed: cannot copy " << seed_dir << ": " << ec.message() << "\n", false;
  }
  for (const auto& [name, content] : files) {
    fs::create_directories((fs::path(tree) / name).parent_path());
    std::ofstream(fs::path(tree) / name, std::ios::binary) << content;
  }
  const std::string git = "git --git-dir='" + path + "' --work-tree='" + tree + "'";
  bool ok = Shell("seed " + path, "set -e; git init -q --bare -b main '" + path + "'; export GIT_INDEX_FILE='" + tree +
                                      ".index'; " + git + " add -A; " + git +
                                      " -c user.name=seed -c user.email=seed@x.ca -c commit.gpgsign=false commit -q -m 'Initial commit'");
  fs::remove_all(tree, ec);
  fs::remove(tree + ".index", ec);
  return ok;
}

// N workspaces, each with the files the workspace template writes.
bool SeedInfra(const std::string& path, int n) {
  std::vector<std::pair<std::string, std::string>> files = {{"README.md", "infrastructure\n"}};
  for (int i = 1; i <= n; ++i) {
    std::string dir = "terraform/projects/" + Acronym(i) + "/";
    files.push_back({dir + "new-workspace-template.auto.tfvars.json",
                     "{\n  \"project_cd\": \"" + Acronym(i) + "\",\n  \"workspace_name\": \"Workspace " +
                         std::to_string(i) + "\"\n}\n"});
    files.push_back({dir + "new-workspace-template.main.tf.json",
                     "{\"module\": {\"workspace\": {\"source\": \"git::modules//workspace?ref=v1\", \"n\": " +
                         std::to_string(i) + "}}}\n"});
    files.push_back({dir + "new-workspace-template.variables.tf.json",
                     "{\"variable\": {\"project_cd\": {\"type\": \"string\"}, \"workspace_name\": {}}}\n"});
    files.push_back({dir + "new-workspace-template.outputs.tf.json",
                     "{\"output\": {\"rg\": {\"value\": \"rg-" + Acronym(i) + "\"}}}\n"});
  }
  return SeedBare(path, "", files);
}

struct Stats {
  double p50 = 0, p95 = 0, mean = 0;
};

Stats Summarize(std::vector<double> ms) {
  Stats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.p50 = ms[ms.size() / 2];
  s.p95 = ms[std::min(ms.size() - 1, static_cast<size_t>(ms.size() * 0.95))];
  s.mean = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  return s;
}

v1::SubmitRunRequest Request(const std::string& id, const std::string& acronym, const std::string& user) {
  v1::SubmitRunRequest r;
  r.set_request_id(id);
  r.mutable_workspace()->set_name("Bench " + acronym);
  r.mutable_workspace()->set_acronym(acronym);
  r.mutable_workspace()->mutable_organization()->set_name("Bench");
  r.mutable_workspace()->mutable_organization()->set_code("BN");
  auto* u = r.mutable_workspace()->add_users();
  u->set_email(user);
  u->set_role(v1::OWNER);
  auto* m = r.add_modules();
  m->set_name("templates/azure-storage-blob");
  m->set_version("latest");
  r.set_requesting_user_email("owner@bench.example");
  return r;
}

// Submit, then wait on WatchRun for IN_PROGRESS (pushed to main).
double SwitchboardRun(v1::ResourcingService::Stub& stub, const std::string& id, const std::string& acronym,
                      const std::string& user) {
  auto start = Clock::now();
  grpc::ClientContext ctx;
  v1::Run run;
  grpc::Status s = stub.SubmitRun(&ctx, Request(id, acronym, user), &run);
  if (!s.ok()) {
    std::cerr << "SubmitRun: " << s.error_message() << "\n";
    return -1;
  }
  grpc::ClientContext wctx;
  wctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::WatchRunRequest w;
  w.set_name(run.name());
  auto reader = stub.WatchRun(&wctx, w);
  v1::ResourcingEvent e;
  while (reader->Read(&e)) {
    if (e.has_run() && (e.run().state() == v1::Run::PIPELINE_RUNNING || e.run().state() == v1::Run::FAILED)) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      wctx.TryCancel();
      if (e.run().state() == v1::Run::FAILED) {
        std::cerr << "run failed: " << e.run().error() << "\n";
        return -1;
      }
      return ms;
    }
  }
  return -1;
}

double AnchorRun(const std::string& scratch, const std::string& infra, const std::string& modules,
                 const std::string& acronym, const std::string& user) {
  std::string script =
      "set -e; rm -rf '" + scratch + "'; mkdir -p '" + scratch + "'; cd '" + scratch + "';"
      "git clone -q 'file://" + infra + "' infra; git clone -q 'file://" + modules + "' modules;"
      "d=infra/terraform/projects/" + acronym + "; mkdir -p $d;"
      "for f in modules/templates/azure-storage-blob/*; do case $f in *.md|*/template.json) ;; *) cp $f $d/;; esac; "
      "done;"
      "printf '{\"storage_contributor_users\": [{\"email\": \"" + user + "\", \"oid\": \"\"}], "
      "\"storage_reader_users\": []}\\n' > $d/azure-storage-blob.auto.tfvars.json;"
      "cd infra; git add -A; git -c user.email=owner@bench.example -c user.name=owner@bench.example "
      "commit -qm 'Committing azure-storage-blob changes'; git push -q origin HEAD:main";
  auto start = Clock::now();
  setenv("SB_ANCHOR_SCRIPT", script.c_str(), 1);
  int rc = std::system("sh -c \"$SB_ANCHOR_SCRIPT\"");
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (rc != 0) {
    std::cerr << "anchor script failed (" << rc << ")\n";
    return -1;
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  switchboard::Cli cli("sb_bench_resourcing",
                       "sb_bench_resourcing [flags]: resourcing run latency against the anchor's\n"
                       "clone-copy-commit-push method, at two repository sizes. See docs/performance.md.");
  cli.AddString("sizes", "10,1000", "Workspace counts of the infrastructure repository, comma-separated.");
  cli.AddInt("iterations", 10, "Runs measured per side and size (after one warm-up run each).");
  cli.AddString("work_dir", "", "Scratch folder (default: a new one under $TMPDIR, removed at the end).");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "sb_bench_resourcing: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  std::vector<int> sizes;
  for (const auto& s : absl::StrSplit(cli.GetString("sizes"), ',')) sizes.push_back(std::atoi(std::string(s).c_str()));
  const int iterations = static_cast<int>(cli.GetInt("iterations"));
  std::string work = cli.GetString("work_dir");
  bool cleanup = work.empty();
  if (work.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "sb-bench-res-XXXXXX").string();
    work = mkdtemp(tmpl.data());
  }
  std::printf("%-11s %-12s %10s %10s %10s %10s %9s\n", "workspaces", "side", "p50 ms", "p95 ms", "mean ms", "runs",
              "speedup");
  for (int n : sizes) {
    const std::string base = work + "/n" + std::to_string(n);
    const std::string infra = base + "/remotes/infra.git";
    const std::string modules = base + "/remotes/modules.git";
    if (!SeedInfra(infra, n)) return 1;
    if (!SeedBare(modules, SB_EXAMPLES_MODULES_DIR, {})) return 1;
    switchboard::core::ServerConfig config;
    config.data_dir = base + "/data";
    config.grpc_address = "127.0.0.1:0";
    config.http_address = "127.0.0.1:0";
    config.resourcing_json = "{\"infra_url\": \"" + infra + "\", \"modules_url\": \"" + modules +
                             "\", \"pipeline_command\": []}";
    auto server = switchboard::Server::Start(config);
    if (!server.ok()) {
      std::cerr << server.status() << "\n";
      return 1;
    }
    auto stub = v1::ResourcingService::NewStub(
        grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials()));
    std::vector<double> sb_ms, anchor_ms;
    // Each iteration changes one workspace's storage users, so that every
    // run makes a real commit whatever the repository size.
    int next = 0;
    auto ws = [&] { return Acronym(next % n + 1); };
    auto user = [&] { return "user" + std::to_string(next++) + "@bench.example"; };
    // Warm-up: the first run fetches the whole repository into the mirror
    // (a one-time clone), like a server that has just been installed.
    SwitchboardRun(*stub, "warm", ws(), user());
    for (int i = 0; i < iterations; ++i) {
      std::string a = ws();
      double ms = SwitchboardRun(*stub, "r" + std::to_string(i), a, user());
      if (ms < 0) return 1;
      sb_ms.push_back(ms);
    }
    (*server)->Shutdown();
    {
      std::string a = ws();
      AnchorRun(base + "/anchor", infra, modules, a, user());
    }
    for (int i = 0; i < iterations; ++i) {
      std::string a = ws();
      double ms = AnchorRun(base + "/anchor", infra, modules, a, user());
      if (ms < 0) return 1;
      anchor_ms.push_back(ms);
    }
    Stats a = Summarize(sb_ms), b = Summarize(anchor_ms);
    std::printf("%-11d %-12s %10.1f %10.1f %10.1f %10zu %9s\n", n, "switchboard", a.p50, a.p95, a.mean, sb_ms.size(),
                "");
    std::printf("%-11d %-12s %10.1f %10.1f %10.1f %10zu %8.1fx\n", n, "anchor", b.p50, b.p95, b.mean,
                anchor_ms.size(), b.p50 / a.p50);
    std::fflush(stdout);
  }
  if (cleanup) {
    std::error_code ec;
    fs::remove_all(work, ec);
  }
  return 0;
}
