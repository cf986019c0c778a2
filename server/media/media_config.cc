#include "server/media/media_config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/core/programs.h"

namespace switchboard::media {
namespace {

using nlohmann::json;

absl::Status Bad(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("media.", key, " ", what, "; see docs/media.md"));
}

absl::Status ArgMap(const json& v, absl::string_view key, std::map<std::string, std::vector<std::string>>* out) {
  if (!v.is_object()) return Bad(key, "must be an object of name -> [ffmpeg arguments]");
  for (auto& [name, args] : v.items()) {
    if (!args.is_array()) return Bad(absl::StrCat(key, ".", name), "must be an array of strings");
    std::vector<std::string> list;
    for (auto& a : args) {
      if (!a.is_string()) return Bad(absl::StrCat(key, ".", name), "must be an array of strings");
      list.push_back(a.get<std::string>());
    }
    (*out)[name] = std::move(list);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MediaConfig> ParseMediaConfig(absl::string_view text) {
  MediaConfig c;
  // libx264 + AAC in MP4 for every built-in name.
  const std::vector<std::string> h264 = {"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt",
                                         "yuv420p", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"};
  c.profiles = {{"h264", h264},
                {"h264-720p", {"-vf", "scale=-2:720", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                               "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"}},
                {"audio-aac", {"-vn", "-c:a", "aac", "-b:a", "128k"}}};
  c.extensions = {{"audio-aac", "m4a"}};
  c.workflows = {{"h264", h264}, {"CloudPortH264", h264}};
  if (text.empty()) return c;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("media must be a JSON object");
  for (auto& [k, v] : j.items()) {
    if (k == "local_accounts") {
      if (!v.is_array()) return Bad(k, "must be an array of account names");
      c.local_accounts.clear();
      for (auto& a : v) {
        if (!a.is_string()) return Bad(k, "must be an array of account names");
        c.local_accounts.push_back(a.get<std::string>());
      }
    } else if (k == "rehydrate_standard_seconds" || k == "rehydrate_high_seconds" ||
               k == "progress_interval_seconds") {
      if (!v.is_number() || v.get<double>() < 0) return Bad(k, "must be a number >= 0");
      double d = v.get<double>();
      if (k == "rehydrate_standard_seconds") c.rehydrate_standard_seconds = d;
      if (k == "rehydrate_high_seconds") c.rehydrate_high_seconds = d;
      if (k == "progress_interval_seconds") c.progress_interval_seconds = d;
    } else if (k == "azure_accounts") {
      if (!v.is_array()) return Bad(k, "must be an array of {name, endpoint, key1, key2}");
      for (auto& a : v) {
        if (!a.is_object() || !a.contains("name") || !a.contains("endpoint") || !a.contains("key1")) {
          return Bad(k, "entries need name, endpoint and key1");
        }
        c.azure_accounts.push_back(blob::AzureAccount{a.value("name", ""), a.value("endpoint", ""),
                                                      a.value("key1", ""), a.value("key2", "")});
      }
    } else if (k == "encoders") {
      if (!v.is_object()) return Bad(k, "must be an object of encoder name -> implementation");
      for (auto& [name, impl] : v.items()) {
        if (!impl.is_string() || impl.get<std::string>() != "ffmpeg") {
          return Bad(absl::StrCat(k, ".", name), "must be \"ffmpeg\" (the only implementation in this build)");
        }
        c.encoders[name] = impl.get<std::string>();
      }
    } else if (k == "ffmpeg_path") {
      if (!v.is_string() || v.get<std::string>().empty()) return Bad(k, "must be a non-empty string");
      c.ffmpeg_path = v.get<std::string>();
    } else if (k == "max_concurrent_encodes" || k == "workers") {
      if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > (k == "workers" ? 512 : 64)) {
        return Bad(k, k == "workers" ? "must be 1..512" : "must be 1..64");
      }
      (k == "workers" ? c.workers : c.max_concurrent_encodes) = v.get<int>();
    } else if (k == "max_queued_operations" || k == "max_queued_encodes") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 1000000) {
        return Bad(k, "must be 1..1000000");
      }
      (k == "max_queued_operations" ? c.max_queued_operations : c.max_queued_encodes) = v.get<int>();
    } else if (k == "profiles") {
      auto s = ArgMap(v, k, &c.profiles);
      if (!s.ok()) return s;
    } else if (k == "workflows") {
      auto s = ArgMap(v, k, &c.workflows);
      if (!s.ok()) return s;
    } else if (k == "extensions") {
      if (!v.is_object()) return Bad(k, "must be an object of name -> extension");
      for (auto& [name, ext] : v.items()) {
        if (!ext.is_string()) return Bad(absl::StrCat(k, ".", name), "must be a string");
        c.extensions[name] = ext.get<std::string>();
      }
    } else {
      return Bad(k, "is not a known key");
    }
  }
  return c;
}

std::vector<core::PoolOptions> MediaPools(const MediaConfig& config) {
  return {{kMediaPool, config.workers, config.max_queued_operations},
          {kEncodePool, config.max_concurrent_encodes, config.max_queued_encodes}};
}

absl::Status CheckFfmpeg(const MediaConfig& config) {
  if (config.encoders.empty()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const auto& [name, impl] : config.encoders) names.push_back(name);
  return core::CheckProgram(config.ffmpeg_path, "media.ffmpeg_path",
                            absl::StrCat("used by the encoder", names.size() == 1 ? " " : "s ",
                                         absl::StrJoin(names, ", ")))
      .status();
}

}  // namespace switchboard::media
