#pragma once
// Encodes: a FIFO of waiting encodes run on the executor's `encode` pool
// (one pool thread per running encode, media.max_concurrent_encodes of
// them; ffmpeg's wait holds that thread, never a `media` one), cancel by
// operation name. Each job records its stages through the OpRecorder:
// scheduled (on submit), processing with percentComplete (throttled), then
// success with the uploaded outputs, canceled, or failure.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/executor.h"
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
  using Done = std::function<void(core::Reply<v1::Operation>)>;

  // Encodes run on `pool` (the `encode` pool: its threads are the encodes
  // running at once, its queue limit the encodes waiting); a cancel waits
  // for a running encode to stop on `timers` (the `media` pool's timers).
  EncodeManager(OpRecorder* recorder, const MediaConfig& config, std::string work_dir, core::Pool* pool,
                core::Pool* timers);
  ~EncodeManager();

  // A place in the queue, taken before anything of an encode is recorded
  // and given back when it is destroyed unless Submit took it.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : manager_(other.manager_) { other.manager_ = nullptr; }
    Slot& operator=(Slot&&) = delete;
    ~Slot();

   private:
    friend class EncodeManager;
    explicit Slot(EncodeManager* manager) : manager_(manager) {}
    EncodeManager* manager_;
  };
  // RESOURCE_EXHAUSTED naming media.max_queued_encodes when that many
  // encodes wait (or hold a slot); UNAVAILABLE once shutting down.
  absl::StatusOr<Slot> Reserve();
  // Records `scheduled` and queues the job in `slot`'s place; returns the
  // operation as recorded.
  absl::StatusOr<v1::Operation> Submit(std::shared_ptr<EncodeJob> job, Slot slot);
  // Stops a queued or running encode; `done` gets its `canceled` operation
  // once recorded (a running one is waited for, up to 15 s, on timers, no
  // thread held). FAILED_PRECONDITION if it already ended; an encode
  // already canceled is answered as it stands, marked replayed.
  void Cancel(const std::string& name, Done done);
  // Cancels every encode and waits until its pool tasks have ended (the
  // queued ones record `canceled`). Later submits are UNAVAILABLE.
  void Shutdown();

 private:
  // One pool task per submitted encode: runs the oldest waiting one.
  void RunNext();
  void RunJob(const std::shared_ptr<EncodeJob>& job);
  // Polls a running encode's operation until it ended (every 10 ms, `left`
  // more times).
  void AwaitEnd(std::string name, int left, Done done);
  void Unreserve();
  absl::StatusOr<std::string> InputFor(const EncodeJob& job, const ResolvedBlob& in) const;

  OpRecorder* recorder_;
  MediaConfig config_;
  std::string work_dir_;
  core::Pool* pool_;
  core::Pool* timers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<EncodeJob>> queue_;
  std::map<std::string, std::shared_ptr<EncodeJob>> active_;  // queued or running, by op name
  bool stopping_ = false;
  int reserved_ = 0;  // slots given out, not yet submitted or given back
  int waiting_ = 0;   // pool tasks posted, not started
  int tasks_ = 0;     // pool tasks posted, not ended
};

}  // namespace switchboard::media
