#include "server/replicated_config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "server/media/media_config.h"
#include "server/resourcing/options.h"

namespace switchboard {

absl::Status CheckReplicatedConfig(const core::ServerConfig& config) {
  if (!core::UsesPostgres(config)) return absl::OkStatus();
  ASSIGN_OR_RETURN(resourcing::ResourcingOptions r, resourcing::OptionsFromConfig(config));
  for (const auto& [key, url] : {std::pair<const char*, const std::string&>{"resourcing.infra_url", r.infra_url},
                                 std::pair<const char*, const std::string&>{"resourcing.modules_url", r.modules_url}}) {
    if (url.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          key, " is not set: with a PostgreSQL store every replica must push to the same git remotes, and the "
               "embedded ones live in one replica's data_dir; set resourcing.infra_url and resourcing.modules_url "
               "to real remote URLs (docs/scale-out.md)"));
    }
  }
  ASSIGN_OR_RETURN(media::MediaConfig m, media::ParseMediaConfig(config.media_json));
  if (!m.local_accounts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "media.local_accounts is [", absl::StrJoin(m.local_accounts, ", "),
        "]: with a PostgreSQL store the blobs of a local account would live in one replica's data_dir; set "
        "\"local_accounts\": [] and serve those accounts from Azure Blob (azure_accounts; Azurite in tests) "
        "(docs/scale-out.md)"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard
