#pragma once
// The pipeline that runs after changes land on main. The interface lets an
// Azure DevOps pipeline take the local command's place later (untested, not
// shipped: see docs/resourcing.md). CommandPipeline runs a local command
// (default tools/pipeline/local-apply) in a checkout of the project folder;
// its stdout is `terraform output -json`.

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace switchboard::resourcing {

struct PipelineResult {
  int exit_code = 0;
  std::string stdout_text;
  // Last lines of stderr (at most ~4 KiB).
  std::string stderr_tail;
  bool timed_out = false;
};

class PipelineRunner {
 public:
  virtual ~PipelineRunner() = default;
  // Runs the pipeline for project folder `dir` (a checkout of main).
  // A status error means it could not be started at all; a failing
  // pipeline is an OK status with a non-zero exit_code.
  virtual absl::StatusOr<PipelineResult> Run(const std::string& dir, const std::string& project) = 0;
};

// The config key of the pipeline's program, as its errors name it.
inline constexpr char kPipelineProgramKey[] = "resourcing.pipeline_command[0]";

class CommandPipeline final : public PipelineRunner {
 public:
  // OK when argv[0] can be run (looked up like execvp does); otherwise
  // FAILED_PRECONDITION naming the program and kPipelineProgramKey.
  // Checked at start (a warning) and by each Run (the run's failure).
  static absl::Status CheckProgram(const std::vector<std::string>& argv);

  // argv[0] is the program; the folder is appended as the last argument.
  // `stop` (may be null) ends a running command early when it turns true.
  CommandPipeline(std::vector<std::string> argv, int timeout_seconds, const std::atomic<bool>* stop)
      : argv_(std::move(argv)), timeout_seconds_(timeout_seconds), stop_(stop) {}
  absl::StatusOr<PipelineResult> Run(const std::string& dir, const std::string& project) override;

 private:
  std::vector<std::string> argv_;
  int timeout_seconds_;
  const std::atomic<bool>* stop_;
};

}  // namespace switchboard::resourcing
