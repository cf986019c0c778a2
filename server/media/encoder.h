#pragma once
// An encoder turns input files (or URLs) into one output file with given
// arguments, reporting progress, and stops when canceled. Configuration maps
// the Gridwich names `flip` and `cloudport` to an implementation; this build
// has one, FfmpegEncoder. The hosted Flip and CloudPort services would be
// further implementations of this interface (untested: see docs/media.md).

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace switchboard::media {

struct EncodeSpec {
  // Local paths or http(s) URLs ffmpeg can read.
  std::vector<std::string> inputs;
  // Output arguments (codecs, filters), from the profile or workflow.
  std::vector<std::string> args;
  std::string output_path;
};

// fraction is 0..1 (or < 0 while the duration is unknown); status is plain
// words for people (EncodeProgressText), e.g. "encoding 58.1 s of 60.0 s".
using ProgressFn = std::function<void(double fraction, const std::string& status)>;

class CancelFlag {
 public:
  void Cancel() { canceled_.store(true); }
  bool canceled() const { return canceled_.load(); }

 private:
  std::atomic<bool> canceled_{false};
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual const char* implementation() const = 0;
  // Blocks until done. CANCELLED if `cancel` was set (the process is
  // stopped); otherwise an error whose message ends with ffmpeg's stderr tail.
  virtual absl::Status Run(const EncodeSpec& spec, const ProgressFn& progress, const CancelFlag& cancel) = 0;
};

std::unique_ptr<Encoder> MakeFfmpegEncoder(std::string ffmpeg_path);

// The status of a progress report: "encoding 58.1 s of 60.0 s", "encoding
// 58.1 s" while the input's duration is unknown (duration <= 0), "encoded
// 60.0 s" at the end. Encode events carry it as current_status after the
// profile ("h264: encoding 58.1 s of 60.0 s").
std::string EncodeProgressText(double encoded_seconds, double duration_seconds, bool end);

// The exact argv the ffmpeg encoder runs (for docs, tests and the benchmark).
std::vector<std::string> FfmpegArgv(const std::string& ffmpeg_path, const EncodeSpec& spec);

}  // namespace switchboard::media
