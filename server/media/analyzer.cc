#include "server/media/analyzer.h"

#include <MediaInfo/MediaInfo.h>
#include <ZenLib/Ztring.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::media {
namespace {

using MediaInfoLib::MediaInfo;

MediaInfoLib::String W(absl::string_view s) {
  ZenLib::Ztring z;
  z.From_UTF8(std::string(s));
  return z;
}

std::string U(const MediaInfoLib::String& s) { return ZenLib::Ztring(s).To_UTF8(); }

absl::Status Configure(MediaInfo& mi, const AnalyzerOptions& options) {
  for (const auto& [k, v] : options) {
    if (absl::EqualsIgnoreCase(k, "Output") || absl::EqualsIgnoreCase(k, "Inform")) continue;
    std::string answer = U(mi.Option(W(k), W(v)));
    if (absl::StartsWith(answer, "Option not known")) {
      return absl::InvalidArgumentError(
          absl::StrCat("mediainfo_options.", k, " is not a MediaInfo option; use e.g. Complete or Language"));
    }
  }
  mi.Option(W("Output"), W("JSON"));
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> Report(MediaInfo& mi) {
  std::string text = U(mi.Inform());
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::InternalError("MediaInfo did not produce JSON");
  bool media = false;
  if (j.contains("media") && j["media"].is_object() && j["media"].contains("track")) {
    for (const auto& t : j["media"]["track"]) {
      if (t.is_object() && t.value("@type", "") != "General") media = true;
      if (t.is_object() && t.value("@type", "") == "General" && t.contains("Format")) media = true;
    }
  }
  if (!media) {
    return absl::FailedPreconditionError("MediaInfo found no audio, video or container format: not a media file");
  }
  return j;
}

}  // namespace

absl::Status ValidateAnalyzerOptions(const AnalyzerOptions& options) {
  for (const auto& [k, v] : options) {
    bool ok = !k.empty() && k.size() < 64;
    for (char c : k) ok = ok && (absl::ascii_isalnum(c) || c == '_');
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat("mediainfo_options: '", k, "' is not an option name"));
    }
    if ((absl::EqualsIgnoreCase(k, "Output") || absl::EqualsIgnoreCase(k, "Inform")) &&
        !absl::EqualsIgnoreCase(v, "JSON")) {
      return absl::InvalidArgumentError(
          absl::StrCat("mediainfo_options.", k, " is '", v, "'; the analysis result is JSON, so use JSON"));
    }
  }
  MediaInfo probe;
  return Configure(probe, options);
}

absl::StatusOr<nlohmann::json> AnalyzeFile(const std::string& path, const AnalyzerOptions& options) {
  MediaInfo mi;
  if (auto s = Configure(mi, options); !s.ok()) return s;
  if (mi.Open(W(path)) == 0) return absl::FailedPreconditionError("MediaInfo cannot open the blob's bytes");
  auto r = Report(mi);
  mi.Close();
  return r;
}

absl::StatusOr<nlohmann::json> AnalyzeRanges(int64_t size, const RangeReader& read, const AnalyzerOptions& options) {
  MediaInfo mi;
  if (auto s = Configure(mi, options); !s.ok()) return s;
  constexpr int64_t kChunk = 1 << 20;
  mi.Open_Buffer_Init(static_cast<ZenLib::int64u>(size), 0);
  int64_t pos = 0;
  std::string buf;
  while (pos < size) {
    buf.clear();
    int64_t want = std::min(kChunk, size - pos);
    if (auto s = read(pos, want, &buf); !s.ok()) return s;
    if (buf.empty()) break;
    size_t status = mi.Open_Buffer_Continue(reinterpret_cast<const ZenLib::int8u*>(buf.data()), buf.size());
    pos += static_cast<int64_t>(buf.size());
    if (status & 0x08) break;  // finished
    ZenLib::int64u go = mi.Open_Buffer_Continue_GoTo_Get();
    if (go != static_cast<ZenLib::int64u>(-1)) {
      pos = static_cast<int64_t>(go);
      mi.Open_Buffer_Init(static_cast<ZenLib::int64u>(size), go);
    }
  }
  mi.Open_Buffer_Finalize();
  auto r = Report(mi);
  mi.Close();
  return r;
}

}  // namespace switchboard::media
