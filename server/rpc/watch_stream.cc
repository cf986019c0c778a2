#include "server/rpc/watch_stream.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace switchboard::rpc {

grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchStream::Start(grpc::CallbackServerContext* ctx,
                                                               core::EventHub* hub, int64_t after,
                                                               core::WatchFilter filter, absl::Status precheck) {
  auto w = std::shared_ptr<WatchStream>(new WatchStream(ctx, hub, after, std::move(filter)));
  w->Attach(w);
  if (precheck.ok()) precheck = CheckAfterSequence(after, hub->head());
  if (!precheck.ok()) {
    std::lock_guard<std::mutex> lock(w->mu_);
    w->FinishLocked(ToGrpcStatus(precheck));
    return w.get();
  }
  for (const core::WatchKey& key : core::KeysOf(w->filter_)) hub->AddKey(w->listener(), key);
  // Initial metadata tells the client the watch is registered.
  w->StartSendInitialMetadata();
  w->Pump();
  return w.get();
}

bool WatchStream::SendEventLocked(std::shared_ptr<const core::EventRecord> event) {
  pending_seq_ = event->sequence;
  out_ = EventBytes(std::move(event));
  return true;
}

grpc::Status WatchStream::EndStatusLocked(core::EventHub::NextKind why) {
  ctx_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(after_));
  if (why == core::EventHub::NextKind::kLagging) {
    return grpc::Status(grpc::StatusCode::ABORTED,
                        absl::StrCat("watch fell more than ", hub_->options().max_lag,
                                     " events behind the log; reconnect with after_sequence=", after_,
                                     " to resume without a gap"));
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("server is shutting down; reconnect with after_sequence=", after_, " to resume"));
}

}  // namespace switchboard::rpc
