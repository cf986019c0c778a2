#pragma once
// One server-streaming watch: replays the log after `after_sequence`, then
// goes live. One write in flight; the next event is fetched only when the
// previous write is done, so a slow client costs one event of memory. A live
// watcher that falls more than EventHub::Options::max_lag events behind is
// ended with ABORTED and the trailing metadata `x-switchboard-resume-after`.

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "server/core/event_hub.h"

namespace switchboard::rpc {

inline constexpr char kResumeAfterTrailer[] = "x-switchboard-resume-after";

// Checks after_sequence against the log: negative is INVALID_ARGUMENT, past
// the head is OUT_OF_RANGE.
absl::Status CheckAfterSequence(int64_t after_sequence, int64_t head);

template <class EventT>
class WatchReactor final : public grpc::ServerWriteReactor<EventT>,
                           public core::Waiter,
                           public std::enable_shared_from_this<WatchReactor<EventT>> {
 public:
  // Starts a watch; `precheck` (from request validation and auth) ends it at
  // once when not OK.
  static grpc::ServerWriteReactor<EventT>* Start(grpc::CallbackServerContext* ctx, core::EventHub* hub,
                                                 int64_t after, core::WatchFilter filter, absl::Status precheck) {
    auto r = std::shared_ptr<WatchReactor>(new WatchReactor(ctx, hub, after, std::move(filter)));
    r->self_ = r;
    hub->AddWatcher(1);
    if (precheck.ok()) precheck = CheckAfterSequence(after, hub->head());
    if (!precheck.ok()) {
      r->FinishLocked(ToGrpcStatus(precheck));
      return r.get();
    }
    // Initial metadata tells the client the watch is registered.
    r->StartSendInitialMetadata();
    r->Pump();
    return r.get();
  }

  void Wake() override { Pump(); }

  void OnWriteDone(bool ok) override {
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

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    hub_->AddWatcher(-1);
    auto keep = std::move(self_);  // may destroy `this` when it goes
  }

 private:
  WatchReactor(grpc::CallbackServerContext* ctx, core::EventHub* hub, int64_t after, core::WatchFilter filter)
      : ctx_(ctx), hub_(hub), after_(after), filter_(std::move(filter)) {}

  // Serialized by `pumping_`: only one thread runs the loop; others leave a
  // note (`repump_`) for it.
  void Pump() {
    auto keep = this->shared_from_this();  // Finish may lead to OnDone
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pumping_) {
        repump_ = true;
        return;
      }
      pumping_ = true;
    }
    for (;;) {
      bool again = Step();
      std::lock_guard<std::mutex> lock(mu_);
      if (again || (repump_ && !writing_ && !finished_)) {
        repump_ = false;
        continue;
      }
      pumping_ = false;
      return;
    }
  }

  // One step: start a write, park, or read ahead from the store. Returns
  // true when it should run again at once.
  bool Step() {
    std::unique_lock<std::mutex> lock(mu_);
    if (writing_ || finished_) return false;
    if (cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
      return false;
    }
    std::shared_ptr<const core::EventRecord> event;
    if (!replay_.empty()) {
      event = std::move(replay_.front());
      replay_.pop_front();
    } else {
      if (replay_scanned_ > after_) after_ = replay_scanned_;
      core::EventHub::Next next = hub_->NextEvent(after_, filter_, live_, this->weak_from_this());
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
        case core::EventHub::NextKind::kLagging: {
          ctx_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(after_));
          FinishLocked(grpc::Status(
              grpc::StatusCode::ABORTED,
              absl::StrCat("watch fell more than ", hub_->options().max_lag,
                           " events behind the log; reconnect with after_sequence=", after_,
                           " to resume without a gap")));
          return false;
        }
        case core::EventHub::NextKind::kClosed:
          ctx_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(after_));
          FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    absl::StrCat("server is shutting down; reconnect with after_sequence=",
                                                 after_, " to resume")));
          return false;
      }
    }
    if (!msg_.ParseFromString(event->data)) {
      FinishLocked(grpc::Status(grpc::StatusCode::DATA_LOSS,
                                absl::StrCat("event ", event->sequence, " in the log cannot be parsed")));
      return false;
    }
    pending_seq_ = event->sequence;
    writing_ = true;
    lock.unlock();
    this->StartWrite(&msg_);
    return false;
  }

  void FinishLocked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    replay_.clear();
    this->Finish(std::move(status));
  }

  static constexpr int kReplayBatch = 256;

  grpc::CallbackServerContext* ctx_;
  core::EventHub* hub_;
  std::shared_ptr<WatchReactor> self_;

  std::mutex mu_;
  int64_t after_;
  const core::WatchFilter filter_;
  EventT msg_;
  int64_t pending_seq_ = 0;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool live_ = false;
  bool pumping_ = false;
  bool repump_ = false;
  // Events read ahead from the store while replaying (at most kReplayBatch).
  std::deque<std::shared_ptr<const core::EventRecord>> replay_;
  int64_t replay_scanned_ = 0;
};

}  // namespace switchboard::rpc
