// switchboardd's config file (server/core/config.h, docs/configuration.md),
// with its "media" and "resourcing" sections as the server reads them at
// start.

#include <nlohmann/json.hpp>

#include "server/core/config.h"
#include "server/media/media_config.h"
#include "server/resourcing/options.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  core::ServerConfig config;
  absl::Status s = core::MergeConfigJson(fuzz::Input(data, size), &config);
  if (!s.ok()) {
    fuzz::CheckError(s, absl::StatusCode::kInvalidArgument);
    return 0;
  }
  (void)core::ValidateConfig(config);
  if (auto m = media::ParseMediaConfig(config.media_json); !m.ok()) {
    fuzz::CheckError(m.status(), absl::StatusCode::kInvalidArgument);
  }
  if (auto r = resourcing::OptionsFromConfig(config); !r.ok()) {
    fuzz::CheckError(r.status(), absl::StatusCode::kInvalidArgument);
  }
  return 0;
}
