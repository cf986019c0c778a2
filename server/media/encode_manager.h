#pragma once
// Encode jobs: a queue behind a concurrency limit, one thread per running
// encode, cancel by operation name. Each job records its stages through the
// OpRecorder: scheduled (on submit), processing with percentComplete
// (throttled), then success with the uploaded outputs, canceled, or failure.

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/reply.h"
#include "server/media/blob_router.h"
#include "server/media/encoder.h"
#include "server/media/media_config.h"
#include "server/media/op_recorder.h"

namespace switchboard::media {

struct EncodeOutput {
  std::string profile;  // profile or workflow name
  std::vector<std::string> args;
  std::string extension;
};

struct EncodeJob {
  v1::Operation op;
  std::string encoder_name;  // "flip", "cloudport"
  std::vector<ResolvedBlob> inputs;
  ResolvedBlob output_container;
  std::string output_container_uri;
  std::vector<EncodeOutput> outputs;
  int64_t sec_to_live = 3600;
  CancelFlag cancel;
};

class EncodeManager {
 public:
  EncodeManager(OpRecorder* recorder, const MediaConfig& config, std::string work_dir);
  ~EncodeManager();

  // Records `scheduled` and queues the job; returns the operation as
  // recorded.
  absl::StatusOr<v1::Operation> Submit(std::shared_ptr<EncodeJob> job);
  // Stops a queued or running encode and waits (up to 15 s) for its
  // `canceled` event. FAILED_PRECONDITION if it already ended; an encode
  // already canceled is answered as it stands, marked replayed.
  core::Reply<v1::Operation> Cancel(const std::string& name);
  void Shutdown();

 private:
  void Loop();
  void RunJob(const std::shared_ptr<EncodeJob>& job);
  absl::StatusOr<std::string> InputFor(const EncodeJob& job, const ResolvedBlob& in) const;

  OpRecorder* recorder_;
  MediaConfig config_;
  std::string work_dir_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<EncodeJob>> queue_;
  std::map<std::string, std::shared_ptr<EncodeJob>> active_;  // queued or running, by op name
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace switchboard::media
