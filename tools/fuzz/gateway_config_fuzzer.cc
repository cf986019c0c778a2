// switchboard-gateway's config file (gateway/config.h, docs/gateway.md).
// Inputs with a key naming a secret file (`<secret>_file`) are left out: the
// file it names is read, and a fuzzer must not read /dev/zero or the disk at
// random.

#include <nlohmann/json.hpp>

#include "gateway/config.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text = fuzz::Input(data, size);
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      for (const char* secret : {"token", "eventgrid_key", "eventgrid_topic_key", "managedapp_sig", "amqp_url",
                                 "azure_storage_key"}) {
        if (it.key() == std::string(secret) + "_file") return 0;
      }
    }
  }
  gateway::GatewayConfig config;
  absl::Status s = gateway::MergeConfigJson(text, &config);
  if (!s.ok()) {
    fuzz::CheckError(s, absl::StatusCode::kInvalidArgument);
    return 0;
  }
  if (absl::Status v = gateway::ValidateConfig(config); !v.ok()) {
    fuzz::CheckError(v, absl::StatusCode::kInvalidArgument);
  }
  return 0;
}
