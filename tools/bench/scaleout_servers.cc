// Deployments of switchboardd for sb_bench_scaleout (scaleout.h): SQLite,
// or replicas on one PostgreSQL schema with what replicated mode needs
// (tools/cluster.sh): real git remotes and no local blob accounts.

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "scaleout.h"

namespace switchboard::bench {

bool MakeGitRemotes(Environment* env, std::string* error) {
  const std::string r = env->tmp + "/remotes";
  // The same seed as tools/cluster.sh: a README and terraform/projects/ in
  // infra, a README in modules (the runs are not measured here).
  const std::string cmd =
      "set -e; r='" + r +
      "'; mkdir -p \"$r\"; git init -q --bare -b main \"$r/infra.git\"; "
      "git init -q --bare -b main \"$r/modules.git\"; w=$(mktemp -d); git -C \"$w\" init -q -b main; "
      "printf '# Infrastructure\\n' > \"$w/README.md\"; mkdir -p \"$w/terraform/projects\"; "
      "touch \"$w/terraform/projects/.gitkeep\"; git -C \"$w\" add -A; "
      "git -C \"$w\" -c user.name=sb_bench -c user.email=sb_bench@localhost commit -q -m init; "
      "git -C \"$w\" push -q \"$r/infra.git\" main; git -C \"$w\" push -q \"$r/modules.git\" main; rm -rf \"$w\"";
  if (std::system(cmd.c_str()) != 0) {
    *error = "making the bare git remotes in " + r + " failed (is git installed?)";
    return false;
  }
  env->remotes = r;
  return true;
}

std::string Deployment::WriteConfig(std::string* error) const {
  nlohmann::json cfg = nlohmann::json::object();
  nlohmann::json media = {{"workers", store_.media_workers}};
  if (store_.postgres) {
    cfg["store"] = env_.pg_url;
    cfg["store_schema"] = store_.schema;
    cfg["store_listen"] = store_.listen;
    cfg["resourcing"] = {{"infra_url", "file://" + env_.remotes + "/infra.git"},
                         {"modules_url", "file://" + env_.remotes + "/modules.git"}};
    media["local_accounts"] = nlohmann::json::array();
    media["azure_accounts"] = nlohmann::json::array();
    if (!env_.azurite_account.empty()) {
      media["azure_accounts"].push_back(
          {{"name", env_.azurite_account}, {"endpoint", env_.azurite_blob}, {"key1", env_.azurite_key}});
    }
  }
  cfg["media"] = media;
  const std::string path = env_.tmp + "/" + label_ + ".json";
  std::ofstream out(path);
  out << cfg.dump(2) << "\n";
  if (!out) {
    *error = "cannot write " + path;
    return "";
  }
  return path;
}

bool Deployment::Start(int n, std::string* error) {
  const std::string config = WriteConfig(error);
  if (config.empty()) return false;
  for (int i = 0; i < n; ++i) {
    const std::string name = label_ + "-" + std::to_string(i + 1);
    std::filesystem::create_directories(env_.tmp + "/" + name);
    Replica r;
    r.proc = std::make_unique<ChildProcess>(
        std::vector<std::string>{env_.switchboardd, "--config=" + config, "--data_dir=" + env_.tmp + "/" + name,
                                 "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0"},
        env_.tmp + "/" + name + ".log");
    r.pid = r.proc->pid();
    replicas_.push_back(std::move(r));
  }
  for (size_t i = 0; i < replicas_.size(); ++i) {
    Replica& r = replicas_[i];
    const std::string serving = r.proc->WaitForLine("\"msg\":\"serving\"", 30);
    r.grpc = Extract(serving, "\"grpc_address\":\"([^\"]+)\"");
    r.http = Extract(serving, "\"http_address\":\"([^\"]+)\"");
    if (r.grpc.empty() || r.http.empty()) {
      const std::string log = r.proc->LogTail(3000);
      *error =
          label_ + " replica " + std::to_string(i + 1) + " exited or did not serve within 30 s; the end of its log:\n" +
          (log.empty() ? "(empty: could " + env_.switchboardd + " be run? a build may have been writing it)" : log);
      r.proc->Stop();
      r.killed = true;  // stopped
      return false;
    }
  }
  return true;
}

void Deployment::Kill(size_t i) {
  Replica& r = replicas_.at(i);
  if (r.killed) return;
  kill(r.pid, SIGKILL);
  r.proc->Stop();  // reaps it (the SIGTERM it sends finds a zombie)
  r.killed = true;
}

double Deployment::CpuSeconds() const {
  double sum = 0;
  for (const Replica& r : replicas_) {
    if (!r.killed) sum += switchboard::bench::CpuSeconds(r.pid);
  }
  return sum;
}

StoreCloseStats Deployment::StopAll() {
  StoreCloseStats total;
  if (stopped_) return total;
  stopped_ = true;
  // SIGTERM to all first, so that they drain side by side.
  for (Replica& r : replicas_) {
    if (!r.killed) kill(r.pid, SIGTERM);
  }
  for (Replica& r : replicas_) {
    if (r.killed) continue;
    r.proc->Stop();
    const std::string tail = r.proc->LogTail(1 << 16);
    const size_t at = tail.rfind("\"msg\":\"store closed\"");
    if (at == std::string::npos) continue;
    const size_t nl = tail.rfind('\n', at);
    const size_t start = nl == std::string::npos ? 0 : nl + 1;
    const size_t end = tail.find('\n', at);
    const std::string line = tail.substr(start, end == std::string::npos ? std::string::npos : end - start);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    auto get = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0; };
    total.found = true;
    total.transactions += get("transactions");
    total.mutations += get("mutations");
    total.locked_transactions += get("locked_transactions");
    total.locked_mutations += get("locked_mutations");
    total.lock_hold_us += get("lock_hold_us");
    total.lock_hold_max_us = std::max(total.lock_hold_max_us, get("lock_hold_max_us"));
  }
  return total;
}

double SumMetric(std::vector<Replica>& replicas, const std::string& name) {
  double sum = 0;
  bool any = false;
  for (Replica& r : replicas) {
    if (r.killed) continue;
    const double v = MetricValue(HttpGet(r.http, "/metrics"), name);
    if (v >= 0) {
      sum += v;
      any = true;
    }
  }
  return any ? sum : -1;
}

}  // namespace switchboard::bench
