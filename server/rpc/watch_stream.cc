#include "server/rpc/watch_stream.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace switchboard::rpc {

std::shared_ptr<WatchStream> WatchStream::Create(grpc::CallbackServerContext* ctx, core::EventHub* hub,
                                                 int64_t after, core::WatchFilter filter, int max_batch) {
  auto w = std::shared_ptr<WatchStream>(new WatchStream(ctx, hub, after, std::move(filter), max_batch));
  w->Attach(w);
  return w;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchStream::Start(grpc::CallbackServerContext* ctx,
                                                               core::EventHub* hub, int64_t after,
                                                               core::WatchFilter filter, absl::Status precheck,
                                                               int max_batch) {
  auto w = Create(ctx, hub, after, std::move(filter), max_batch);
  if (precheck.ok()) precheck = CheckAfterSequence(after, hub->head());
  if (!precheck.ok()) {
    std::lock_guard<std::mutex> lock(w->mu_);
    w->FinishLocked(ToGrpcStatus(precheck));
    return w.get();
  }
  w->Go();
  return w.get();
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchStream::StartAfterLookup(grpc::CallbackServerContext* ctx,
                                                                          core::EventHub* hub, int64_t after,
                                                                          core::WatchFilter filter, Lookup lookup) {
  auto w = Create(ctx, hub, after, std::move(filter));
  absl::Status s = CheckAfterSequence(after, hub->head());
  if (s.ok()) {
    // Until Go, nothing else reads or writes filter_: the lookup gets it.
    const bool queued = hub->RunReadAsync([w, lookup = std::move(lookup)] {
      absl::Status found = lookup(&w->filter_);
      if (!found.ok()) {
        std::lock_guard<std::mutex> lock(w->mu_);
        w->FinishLocked(ToGrpcStatus(found));
        return;
      }
      w->Go();
    });
    if (!queued) s = absl::UnavailableError("server is shutting down; reconnect to watch");
  }
  if (!s.ok()) {
    std::lock_guard<std::mutex> lock(w->mu_);
    w->FinishLocked(ToGrpcStatus(s));
  }
  return w.get();
}

void WatchStream::Go() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;  // cancelled while its lookup ran
    for (const core::WatchKey& key : core::KeysOf(filter_)) hub_->AddKey(listener(), key);
    // Initial metadata tells the client the watch is registered.
    this->StartSendInitialMetadata();
  }
  Pump();
}

bool WatchStream::SendEventLocked(std::shared_ptr<const core::EventRecord> event) {
  pending_seq_ = event->sequence;
  if (max_batch_ == 0) {
    out_ = EventBytes(std::move(event));
    return true;
  }
  AppendMessageField(&batch_, 1, event->data);
  ++batched_;
  return true;
}

void WatchStream::SealLocked() {
  if (batched_ == 0) return;
  out_ = OwnedBytes(std::move(batch_));
  batch_.clear();
  batched_ = 0;
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
