// Encode and CancelEncode (the encode issue step lands here).
#include "server/media/media_engine.h"
#include "server/media/encode_manager.h"
#include "server/media/op_recorder.h"
#include "server/media/worker_pool.h"

namespace switchboard::media {



absl::Status MediaEngine::InitEncodes() { return absl::OkStatus(); }
void MediaEngine::ShutdownEncodes() {}

void MediaEngine::Encode(const v1::EncodeRequest&, Done done) {
  done(absl::UnimplementedError("Encode is not implemented yet"));
}
void MediaEngine::CancelEncode(const v1::CancelEncodeRequest&, Done done) {
  done(absl::UnimplementedError("CancelEncode is not implemented yet"));
}

}  // namespace switchboard::media
