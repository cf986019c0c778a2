#include "server/rpc/watch_stream.h"

#include "common/status.h"

namespace switchboard::rpc {
namespace {

grpc::ByteBuffer EventBytes(std::shared_ptr<const core::EventRecord> event) {
  grpc::Slice slice = EventSlice(std::move(event));
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

grpc::Slice EventSlice(std::shared_ptr<const core::EventRecord> event) {
  auto* holder = new std::shared_ptr<const core::EventRecord>(std::move(event));
  return grpc::Slice(
      const_cast<char*>((*holder)->data.data()), (*holder)->data.size(),
      [](void* p) { delete static_cast<std::shared_ptr<const core::EventRecord>*>(p); }, holder);
}

absl::Status CheckAfterSequence(int64_t after_sequence, int64_t head) {
  if (after_sequence < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "after_sequence is ", after_sequence, "; it must be 0 (whole log) or a sequence you have seen"));
  }
  if (after_sequence > head) {
    return absl::OutOfRangeError(absl::StrCat("after_sequence ", after_sequence,
                                              " is beyond the head of the log (", head,
                                              "); pass a sequence you have seen, or 0"));
  }
  return absl::OkStatus();
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchStream::Start(grpc::CallbackServerContext* ctx,
                                                               core::EventHub* hub, int64_t after,
                                                               core::WatchFilter filter, absl::Status precheck) {
  auto w = std::shared_ptr<WatchStream>(new WatchStream(ctx, hub, after, std::move(filter)));
  w->self_ = w;
  hub->AddWatcher(1);
  if (precheck.ok()) precheck = CheckAfterSequence(after, hub->head());
  if (!precheck.ok()) {
    std::lock_guard<std::mutex> lock(w->mu_);
    w->FinishLocked(ToGrpcStatus(precheck));
    return w.get();
  }
  // Initial metadata tells the client the watch is registered.
  w->StartSendInitialMetadata();
  w->Pump();
  return w.get();
}

void WatchStream::OnWriteDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    msg_.Clear();
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed by the client"));
      return;
    }
    after_ = pending_seq_;
  }
  Pump();
}

void WatchStream::OnCancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
}

void WatchStream::OnDone() {
  hub_->AddWatcher(-1);
  auto keep = std::move(self_);  // may destroy `this` when it goes
}

void WatchStream::Pump() {
  auto keep = shared_from_this();  // Finish may lead to OnDone
  RunPumpLoop(mu_, pumping_, repump_, [this] { return Step(); }, [this] { return writing_ || finished_; });
}

// One step: start a write, park, or read ahead from the store. Returns true
// when it should run again at once.
bool WatchStream::Step() {
  std::unique_lock<std::mutex> lock(mu_);
  if (writing_ || finished_) return false;
  if (cancelled_) {
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
    return false;
  }
  std::shared_ptr<const core::EventRecord> event;
  if (replay_next_ < replay_.size()) {
    event = std::move(replay_[replay_next_++]);
    if (replay_next_ == replay_.size()) {
      replay_.clear();
      replay_.shrink_to_fit();  // idle watchers hold nothing
      replay_next_ = 0;
    }
  } else {
    if (replay_scanned_ > after_) after_ = replay_scanned_;
    core::EventHub::Next next = hub_->NextEvent(after_, filter_, live_, weak_from_this());
    switch (next.kind) {
      case core::EventHub::NextKind::kEvent:
        event = std::move(next.event);
        break;
      case core::EventHub::NextKind::kWait:
        live_ = true;
        after_ = next.advance_to;
        return false;
      case core::EventHub::NextKind::kReadStore: {
        int64_t from = after_;
        lock.unlock();
        auto batch = hub_->store()->ReadEvents(from, kReplayBatch, filter_.service);
        lock.lock();
        if (!batch.ok()) {
          FinishLocked(ToGrpcStatus(batch.status()));
          return false;
        }
        for (auto& e : batch->events) {
          if (filter_.Matches(e)) replay_.push_back(std::make_shared<core::EventRecord>(std::move(e)));
        }
        replay_scanned_ = batch->scanned_through;
        return true;
      }
      case core::EventHub::NextKind::kLagging:
        ctx_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(after_));
        FinishLocked(grpc::Status(grpc::StatusCode::ABORTED,
                                  absl::StrCat("watch fell more than ", hub_->options().max_lag,
                                               " events behind the log; reconnect with after_sequence=", after_,
                                               " to resume without a gap")));
        return false;
      case core::EventHub::NextKind::kClosed:
        ctx_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(after_));
        FinishLocked(grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            absl::StrCat("server is shutting down; reconnect with after_sequence=", after_, " to resume")));
        return false;
    }
  }
  pending_seq_ = event->sequence;
  msg_ = EventBytes(std::move(event));
  writing_ = true;
  lock.unlock();
  StartWrite(&msg_);
  return false;
}

void WatchStream::FinishLocked(grpc::Status status) {
  if (finished_) return;
  finished_ = true;
  replay_.clear();
  replay_next_ = 0;
  Finish(std::move(status));
}

}  // namespace switchboard::rpc
