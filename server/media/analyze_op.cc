// AnalyzeBlob: MediaInfo over a blob.
#include "server/media/media_engine.h"

namespace switchboard::media {

void MediaEngine::AnalyzeBlob(const v1::AnalyzeBlobRequest&, Done done) {
  done(absl::UnimplementedError("AnalyzeBlob is not implemented yet"));
}

}  // namespace switchboard::media
