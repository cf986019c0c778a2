#pragma once
// Settings of the resourcing engine: the "resourcing" section of the server
// config (docs/resourcing.md lists every key).

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "server/core/config.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

struct ResourcingOptions {
  // Where mirrors, embedded remotes and pipeline checkouts live
  // (<server data_dir>/resourcing by default).
  std::string work_dir;
  // Remotes. Empty means the embedded bare repositories under work_dir,
  // created on first start (the modules one seeded from modules_seed_dir).
  std::string infra_url;
  std::string modules_url;
  // Token for https remotes (sent as the password of user "x-token").
  std::string git_token;
  std::string main_branch = "main";
  // Content for the embedded modules repository.
  std::string modules_seed_dir;
  // Folder, in the modules repository, that holds the templates.
  std::string templates_dir = "templates";
  // Highest-priority values of template variables ("terraform.variables").
  std::map<std::string, nlohmann::json> terraform_variables;
  // Per-template override of the approval policy declared in template.json.
  std::map<std::string, v1::ApprovalPolicy> approval_overrides;
  // argv of the pipeline, run once per changed project folder with the
  // folder as its working directory and last argument. Empty = no pipeline:
  // an external one reports through ReportPipelineOutputs.
  std::vector<std::string> pipeline_command;
  int pipeline_timeout_seconds = 600;
  // Run workers (runs of one workspace never overlap).
  int workers = 4;
  // Backoff cap for retryable failures such as an unreachable remote.
  int retry_max_seconds = 60;
  // Attempts at a push that lost a race before the run fails.
  int push_attempts = 5;

  // This process start's id (core::NewReplicaId; the server passes the one
  // it logs): the owner of the run jobs' leases taken here. Empty: a new
  // one.
  std::string replica_id;
  // How long a run job's lease lasts unrenewed, and how often the engine
  // renews the leases it holds and claims due jobs (zero: job_lease / 4).
  absl::Duration job_lease = absl::Seconds(60);
  absl::Duration job_tick = absl::ZeroDuration();

  // Test hook: called before each push to the infrastructure remote (with
  // the branch), so that a test can make the push race deterministically.
  std::function<void(const std::string& branch)> before_push;
  // Test hook: called when a pass of a run ends, whatever its outcome, with
  // the run's name.
  std::function<void(const std::string& run)> after_pass;
};

// Reads the "resourcing" object of the server config. Unknown keys and wrong
// types are INVALID_ARGUMENT naming the key.
absl::Status MergeResourcingJson(const nlohmann::json& section, ResourcingOptions* options);

// The embedded defaults (work_dir under the server's data_dir, the example
// modules of this source tree, tools/pipeline/local-apply as the pipeline),
// then the config's "resourcing" section.
absl::StatusOr<ResourcingOptions> OptionsFromConfig(const core::ServerConfig& config);

}  // namespace switchboard::resourcing
