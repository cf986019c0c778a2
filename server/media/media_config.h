#pragma once
// The "media" section of the server config (docs/media.md lists every key).

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/blob/azure_blob_store.h"
#include "server/core/executor.h"

namespace switchboard::media {

struct MediaConfig {
  // Accounts served by the embedded store (under <data_dir>/blobs).
  std::vector<std::string> local_accounts = {"devstoreaccount1"};
  double rehydrate_standard_seconds = 60;
  double rehydrate_high_seconds = 10;
  // Accounts served through the Azure REST API (Azure or Azurite).
  std::vector<blob::AzureAccount> azure_accounts;
  // Encoders: name ("flip", "cloudport") -> implementation ("ffmpeg").
  std::map<std::string, std::string> encoders = {{"flip", "ffmpeg"}, {"cloudport", "ffmpeg"}};
  std::string ffmpeg_path = "ffmpeg";
  // Encodes running at once: the threads of the executor's `encode` pool
  // (each holds one while ffmpeg runs); the rest wait in `scheduled`.
  int max_concurrent_encodes = 1;
  // Encodes waiting in `scheduled` at most: the `encode` pool's queue
  // limit. Beyond it an Encode is RESOURCE_EXHAUSTED and nothing is
  // recorded.
  int max_queued_encodes = 1024;
  // Flip profile -> ffmpeg output arguments; CloudPort workflow -> the same.
  std::map<std::string, std::vector<std::string>> profiles;
  std::map<std::string, std::vector<std::string>> workflows;
  // Output file extension per profile/workflow name (default "mp4").
  std::map<std::string, std::string> extensions;
  // Least time between two `processing` events of one encode.
  double progress_interval_seconds = 1.0;
  // Threads of the executor's `media` pool: storage operations, analysis,
  // the recording half of an encode.
  int workers = 4;
  // Accepted operations waiting for a worker at most (also the `media`
  // pool's queue limit); beyond it a new request is RESOURCE_EXHAUSTED
  // (retry later) and nothing is recorded.
  int max_queued_operations = 20000;
};

// The executor pools the media engine runs on, sized by the keys above
// (docs/media.md): `media` (workers, max_queued_operations) and `encode`
// (max_concurrent_encodes, max_queued_encodes). The server adds them to its
// core::Executor.
inline constexpr char kMediaPool[] = "media";
inline constexpr char kEncodePool[] = "encode";
std::vector<core::PoolOptions> MediaPools(const MediaConfig& config);

// Defaults plus the keys of `json_text` (empty: defaults only). Unknown keys
// and wrong types are INVALID_ARGUMENT naming the key.
absl::StatusOr<MediaConfig> ParseMediaConfig(absl::string_view json_text);

// OK when no encoder is configured or ffmpeg_path can be run (looked up like
// execvp does); otherwise FAILED_PRECONDITION naming the program, the key
// media.ffmpeg_path and the encoders that need it. Checked at start (a
// warning) and by each encode (its failure).
absl::Status CheckFfmpeg(const MediaConfig& config);

}  // namespace switchboard::media
