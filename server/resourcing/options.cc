#include "server/resourcing/options.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "server/resourcing/names.h"

namespace switchboard::resourcing {
namespace {

absl::Status Bad(absl::string_view key, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("resourcing.", key, ": ", problem));
}

}  // namespace

absl::Status MergeResourcingJson(const nlohmann::json& j, ResourcingOptions* o) {
  if (j.is_null()) return absl::OkStatus();
  if (!j.is_object()) return Bad("", "must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const nlohmann::json& v = it.value();
    auto str = [&](std::string* out) -> absl::Status {
      if (!v.is_string()) return Bad(k, "must be a string");
      *out = v.get<std::string>();
      return absl::OkStatus();
    };
    auto num = [&](int* out, int lo, int hi) -> absl::Status {
      if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
        return Bad(k, absl::StrCat("must be an integer from ", lo, " to ", hi));
      }
      *out = static_cast<int>(v.get<int64_t>());
      return absl::OkStatus();
    };
    absl::Status s;
    if (k == "infra_url") s = str(&o->infra_url);
    else if (k == "modules_url") s = str(&o->modules_url);
    else if (k == "git_token") s = str(&o->git_token);
    else if (k == "main_branch") s = str(&o->main_branch);
    else if (k == "modules_seed_dir") s = str(&o->modules_seed_dir);
    else if (k == "work_dir") s = str(&o->work_dir);
    else if (k == "templates_dir") s = str(&o->templates_dir);
    else if (k == "pipeline_timeout_seconds") s = num(&o->pipeline_timeout_seconds, 1, 86400);
    else if (k == "workers") s = num(&o->workers, 1, 64);
    else if (k == "retry_max_seconds") s = num(&o->retry_max_seconds, 1, 3600);
    else if (k == "push_attempts") s = num(&o->push_attempts, 1, 100);
    else if (k == "pipeline_command") {
      if (!v.is_array()) return Bad(k, "must be an array of strings (argv), or [] for an external pipeline");
      o->pipeline_command.clear();
      for (const auto& a : v) {
        if (!a.is_string()) return Bad(k, "must be an array of strings");
        o->pipeline_command.push_back(a.get<std::string>());
      }
    } else if (k == "terraform") {
      if (!v.is_object()) return Bad(k, "must be an object such as {\"variables\": {...}}");
      for (auto t = v.begin(); t != v.end(); ++t) {
        if (t.key() != "variables" || !t.value().is_object()) {
          return Bad("terraform", "only the key 'variables' (an object of name: value) is known");
        }
        for (auto var = t.value().begin(); var != t.value().end(); ++var) o->terraform_variables[var.key()] = var.value();
      }
    } else if (k == "approval") {
      if (!v.is_object()) return Bad(k, "must be an object of template name: \"required\" or \"none\"");
      for (auto a = v.begin(); a != v.end(); ++a) {
        std::string p = a.value().is_string() ? a.value().get<std::string>() : "";
        // Keyed like the runs' module names: prefix stripped, the alias read
        // as new-workspace-template.
        const std::string name = CanonicalTemplate(StripTemplatesPrefix(a.key()));
        if (o->approval_overrides.count(name) > 0) {
          return Bad(absl::StrCat("approval.", a.key()),
                     absl::StrCat("names the same template as another key (", name, "); give it once"));
        }
        if (p == "required") o->approval_overrides[name] = v1::APPROVAL_REQUIRED;
        else if (p == "none") o->approval_overrides[name] = v1::NO_APPROVAL;
        else return Bad(absl::StrCat("approval.", a.key()), "must be \"required\" or \"none\"");
      }
    } else {
      return Bad(k, "unknown key; see docs/resourcing.md for the keys");
    }
    if (!s.ok()) return s;
  }
  if (o->main_branch.empty()) return Bad("main_branch", "must not be empty");
  return absl::OkStatus();
}

absl::StatusOr<ResourcingOptions> OptionsFromConfig(const core::ServerConfig& config) {
  ResourcingOptions o;
  o.work_dir = (std::filesystem::path(config.data_dir) / "resourcing").string();
#ifdef SB_EXAMPLES_MODULES_DIR
  o.modules_seed_dir = SB_EXAMPLES_MODULES_DIR;
#endif
#ifdef SB_LOCAL_APPLY_PATH
  o.pipeline_command = {SB_LOCAL_APPLY_PATH};
#endif
  if (!config.resourcing_json.empty()) {
    nlohmann::json j = nlohmann::json::parse(config.resourcing_json, nullptr, false);
    if (j.is_discarded()) return absl::InvalidArgumentError("resourcing: not valid JSON");
    absl::Status s = MergeResourcingJson(j, &o);
    if (!s.ok()) return s;
  }
  return o;
}

}  // namespace switchboard::resourcing
