#pragma once
// MediaInfo analysis through libmediainfo: straight from a local file, or
// through ranged reads (for remote stores), never a full copy in memory.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::media {

// MediaInfo options as given in analyzerSpecificData.mediaInfo
// .commandLineOptions, e.g. {"Complete": "1", "Output": "JSON"}. Output
// must be JSON (or absent); names MediaInfo does not know are
// INVALID_ARGUMENT naming `mediainfo_options.<name>`.
using AnalyzerOptions = std::map<std::string, std::string>;
absl::Status ValidateAnalyzerOptions(const AnalyzerOptions& options);

// Reads [offset, offset+length) into `out` (appending).
using RangeReader = std::function<absl::Status(int64_t offset, int64_t length, std::string* out)>;

// The parsed MediaInfo JSON report. FAILED_PRECONDITION (not media) when
// MediaInfo finds no format at all.
absl::StatusOr<nlohmann::json> AnalyzeFile(const std::string& path, const AnalyzerOptions& options);
absl::StatusOr<nlohmann::json> AnalyzeRanges(int64_t size, const RangeReader& read, const AnalyzerOptions& options);

}  // namespace switchboard::media
