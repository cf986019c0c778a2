// AnalyzeBlob: MediaInfo over a blob, by direct file access for the local
// store and ranged reads otherwise.
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "wire/json_util.h"
#include "server/media/analyzer.h"
#include "server/media/blob_info.h"
#include "server/media/media_engine.h"
#include "server/media/op_recorder.h"
#include "server/media/request_echo.h"

namespace switchboard::media {
namespace {

// MediaInfo names the file it read (for the local store, a path under the
// data dir); the answer names the blob instead, so no server path leaks:
// media.@ref and the General track's CompleteName, FolderName, FileName,
// FileNameExtension and FileExtension.
void NameTheBlob(const std::string& uri, nlohmann::json* report) {
  if (!report->is_object() || !report->contains("media") || !(*report)["media"].is_object()) return;
  nlohmann::json& media = (*report)["media"];
  media["@ref"] = uri;
  if (!media.contains("track") || !media["track"].is_array()) return;
  std::string path = uri.substr(0, uri.find('?'));
  size_t slash = path.rfind('/');
  std::string folder = slash == std::string::npos ? "" : path.substr(0, slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  for (auto& track : media["track"]) {
    if (!track.is_object() || !track.contains("@type") || track["@type"] != "General") continue;
    if (track.contains("CompleteName")) track["CompleteName"] = uri;
    if (track.contains("FolderName")) track["FolderName"] = folder;
    if (track.contains("FileNameExtension")) track["FileNameExtension"] = base;
    if (track.contains("FileName")) track["FileName"] = dot == std::string::npos ? base : base.substr(0, dot);
    if (track.contains("FileExtension")) {
      if (dot == std::string::npos) {
        track.erase("FileExtension");
      } else {
        track["FileExtension"] = base.substr(dot + 1);
      }
    }
  }
}

}  // namespace

absl::StatusOr<MediaEngine::Job> MediaEngine::Prepare(const v1::AnalyzeBlobRequest& req) {
  auto target = router_.ResolveBlob(req.blob_uri(), "blob_uri");
  if (!target.ok()) return target.status();
  AnalyzerOptions options(req.mediainfo_options().begin(), req.mediainfo_options().end());
  if (auto s = ValidateAnalyzerOptions(options); !s.ok()) return s;
  MediaJob job = JobFor(v1::ANALYZE_BLOB, req, req.blob_uri());
  job.work = [this, req, t = *target, options](v1::Operation op, Done done) {
    auto props = t.store->GetProperties(t.ref);
    if (!props.ok()) return recorder_->Fail(std::move(op), log_events::kAnalysisFailed, props.status(), std::move(done));
    if (props->tier == blob::Tier::kArchive) {
      return recorder_->Fail(std::move(op), log_events::kAnalysisFailed,
                             absl::FailedPreconditionError("the blob is archived; rehydrate it before analysing"),
                             std::move(done));
    }
    absl::StatusOr<nlohmann::json> report;
    if (auto path = t.store->LocalPath(t.ref)) {
      report = AnalyzeFile(*path, options);
    } else {
      report = AnalyzeRanges(props->size, [&](int64_t off, int64_t len, std::string* out) {
        return t.store->Read(t.ref, off, len, [out](absl::string_view p) {
          out->append(p.data(), p.size());
          return true;
        });
      }, options);
    }
    if (!report.ok()) {
      const auto& id = absl::IsFailedPrecondition(report.status()) ? log_events::kAnalysisNotMedia
                                                                    : log_events::kAnalysisFailed;
      return recorder_->Fail(std::move(op), id, report.status(), std::move(done));
    }
    // The report names the file it read; name the blob instead.
    NameTheBlob(req.blob_uri(), &*report);
    auto result = wire::JsonToStruct(*report, "analysisResult");
    if (!result.ok()) return recorder_->Fail(std::move(op), log_events::kAnalysisFailed, result.status(), std::move(done));
    *op.mutable_analysis_result() = std::move(*result);
    op.mutable_blob_metadata()->insert(props->metadata.begin(), props->metadata.end());
    return recorder_->Succeed(std::move(op), std::move(done));
  };
  return job;
}

}  // namespace switchboard::media
