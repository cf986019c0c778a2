#pragma once
// The one state machine of every watch stream (WatchStream: one filter over
// a server stream; MultiWatchStream: many watches over a bidirectional
// stream). It walks the log from a position: replay (the hub's ring, or the
// store read ahead in batches on the hub's threads), then live (parked in
// the hub until an event it can match commits). One write in flight; the
// next event is fetched only when the previous write is done, so a slow
// client costs at most one event of memory, and a live stream that falls
// more than EventHub::Options::max_lag events behind the head is ended.
//
// No reaction blocks: gRPC callbacks and hub wakes take the stream's own
// mutex and the hub's, neither of them held across I/O, and store reads run
// on the hub's threads.
//
// The derived stream (CRTP: `Derived`) says only what differs, each called
// with the stream's mutex held:
//   ControlLocked()        kSend after putting a message that is not an
//                          event in out_ (e.g. "this watch ended"), kIdle
//                          when there is nothing to watch, else kNone;
//   PositionLocked()       the sequence to walk the log after;
//   MatchesLocked(e)       whether the event can be for this stream (it may
//                          still send nothing: SendEventLocked decides);
//   SendEventLocked(e)     puts the event's message in out_ and returns
//                          true, or returns false with nothing to send; the
//                          position moves past e either way;
//   AdvanceLocked(seq)     nothing this stream matches up to seq;
//   MoreLocked()           after a SendEventLocked: whether the message in
//                          the making takes another event that is ready
//                          now (a stream that batches events); false sends
//                          it as it is;
//   SealLocked()           the message in the making is complete: put it in
//                          out_ (a stream that sends one event per message
//                          has done so in SendEventLocked);
//   WrittenLocked()        the message in out_ reached the client;
//   EndStatusLocked(why)   the status for kLagging or kClosed.
// Base is grpc::ServerWriteReactor<grpc::ByteBuffer> or
// grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>: both watch
// kinds write raw bytes (rpc/watch_wire.h).

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/status.h"
#include "server/core/event_hub.h"

namespace switchboard::rpc {

// The step loop of a watch stream, on one thread at a time. A caller that
// finds it running leaves a note (`repump`) and returns; the running loop
// goes round once more for it unless `busy()` (a write or read in flight, or
// the stream finished: that completion pumps again). `pumping` and `repump`
// are guarded by `mu`; `step()` takes `mu` itself and returns true to run
// again at once; `busy()` runs under `mu`.
template <class StepFn, class BusyFn>
void RunPumpLoop(std::mutex& mu, bool& pumping, bool& repump, StepFn step, BusyFn busy) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (pumping) {
      repump = true;
      return;
    }
    pumping = true;
  }
  for (;;) {
    bool again = step();
    std::lock_guard<std::mutex> lock(mu);
    if (again || (repump && !busy())) {
      repump = false;
      continue;
    }
    pumping = false;
    return;
  }
}

// Checks after_sequence against the log: negative is INVALID_ARGUMENT, past
// the head is OUT_OF_RANGE.
absl::Status CheckAfterSequence(int64_t after_sequence, int64_t head);

enum class WatchControl { kNone, kSend, kIdle };

template <class Derived, class Base>
class WatchReactor : public Base, public core::Waiter, public std::enable_shared_from_this<Derived> {
 public:
  void Wake() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      parked_ = false;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      out_.Clear();
      if (!ok) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed by the client"));
        return;
      }
      derived().WrittenLocked();
    }
    Pump();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    hub_->Unlisten(listener_.get());
    hub_->AddWatcher(-1);
    auto keep = std::move(self_);  // may destroy `this` when it goes
  }

 protected:
  WatchReactor(grpc::CallbackServerContext* ctx, core::EventHub* hub, std::string service)
      : ctx_(ctx), hub_(hub), service_(std::move(service)) {}

  // Called once by Derived's Start, with the stream's owner: the stream
  // owns itself until OnDone and is registered with the hub.
  void Attach(const std::shared_ptr<Derived>& self) {
    self_ = self;
    hub_->AddWatcher(1);
    listener_ = hub_->Listen(std::weak_ptr<Derived>(self));
  }

  // Walks as far as it can without blocking.
  void Pump() {
    auto keep = this->shared_from_this();  // Finish may lead to OnDone
    RunPumpLoop(mu_, pumping_, repump_, [this] { return Step(); },
                [this] { return writing_ || reading_ || finished_; });
  }

  void FinishLocked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    ForgetReplayLocked();
    this->Finish(std::move(status));
  }

  // The position moved back, or what MatchesLocked accepts grew: events
  // read ahead (or being read) are not enough any more.
  void ResetReplayLocked() {
    ForgetReplayLocked();
    ++replay_epoch_;
  }

  core::EventHub::Listener* listener() const { return listener_.get(); }

  grpc::CallbackServerContext* const ctx_;
  core::EventHub* const hub_;
  const std::string service_;

  std::mutex mu_;
  grpc::ByteBuffer out_;
  bool finished_ = false;
  // Caught up once: only a live stream can lag.
  bool live_ = false;
  // Parked in the hub: an event it can match will wake it.
  bool parked_ = false;

 private:
  static constexpr int kReplayBatch = 256;

  Derived& derived() { return static_cast<Derived&>(*this); }

  void ForgetReplayLocked() {
    replay_.clear();
    replay_.shrink_to_fit();  // idle streams hold nothing
    replay_next_ = 0;
  }

  bool StartWriteLocked(std::unique_lock<std::mutex>& lock) {
    writing_ = true;
    lock.unlock();
    this->StartWrite(&out_);
    return false;
  }

  // The next event after the stream's position that it can match, from the
  // hub (or what to do instead).
  core::EventHub::Next NextLocked() {
    Derived& d = derived();
    parked_ = false;  // asking the hub unparks it there too
    return hub_->NextEvent(
        d.PositionLocked(), [&d](const core::EventRecord& e) { return d.MatchesLocked(e); }, live_,
        listener_.get());
  }

  // Nothing to send up to `advance_to`: parked in the hub until an event the
  // stream can match commits.
  void WaitLocked(int64_t advance_to) {
    live_ = true;
    parked_ = true;
    derived().AdvanceLocked(advance_to);
  }

  // The next event read ahead: whether it is sent.
  bool SendReplayedLocked() {
    Derived& d = derived();
    auto event = std::move(replay_[replay_next_++]);
    const bool send = d.SendEventLocked(std::move(event));
    if (replay_next_ == replay_.size()) {
      // Nothing else this stream matches up to scanned_through.
      ForgetReplayLocked();
      d.AdvanceLocked(replay_scanned_);
    }
    return send;
  }

  // An event is in the message in the making: adds the ones ready now while
  // the stream takes more (MoreLocked), then writes the message. Only
  // events already read ahead or in the hub's ring are added; anything else
  // (a store read, an end) is left to the step after the write.
  bool SendCollectedLocked(std::unique_lock<std::mutex>& lock) {
    Derived& d = derived();
    while (!finished_ && d.MoreLocked()) {
      if (replay_next_ < replay_.size()) {
        SendReplayedLocked();
        continue;
      }
      core::EventHub::Next next = NextLocked();
      if (next.kind == core::EventHub::NextKind::kWait) WaitLocked(next.advance_to);
      if (next.kind != core::EventHub::NextKind::kEvent) break;
      d.SendEventLocked(std::move(next.event));
    }
    if (finished_) return false;
    d.SealLocked();
    return StartWriteLocked(lock);
  }

  // One step: start a write, park, or start a read from the store. Returns
  // true when it should run again at once.
  bool Step() {
    Derived& d = derived();
    std::unique_lock<std::mutex> lock(mu_);
    if (writing_ || reading_ || finished_) return false;
    if (cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
      return false;
    }
    switch (d.ControlLocked()) {
      case WatchControl::kSend:
        return StartWriteLocked(lock);
      case WatchControl::kIdle:
        return false;
      case WatchControl::kNone:
        break;
    }
    if (replay_next_ < replay_.size()) {
      const bool send = SendReplayedLocked();
      if (finished_) return false;
      return send ? SendCollectedLocked(lock) : true;
    }
    core::EventHub::Next next = NextLocked();
    switch (next.kind) {
      case core::EventHub::NextKind::kEvent:
        if (!d.SendEventLocked(std::move(next.event))) return !finished_;
        return SendCollectedLocked(lock);
      case core::EventHub::NextKind::kWait:
        WaitLocked(next.advance_to);
        return false;
      case core::EventHub::NextKind::kReadStore: {
        auto self = this->shared_from_this();
        const uint64_t epoch = replay_epoch_;
        reading_ = hub_->ReadEventsAsync(d.PositionLocked(), kReplayBatch, service_,
                                         [self, epoch](absl::StatusOr<core::EventBatch> batch) {
                                           static_cast<WatchReactor*>(self.get())
                                               ->OnReplayRead(epoch, std::move(batch));
                                         });
        if (!reading_) FinishLocked(d.EndStatusLocked(core::EventHub::NextKind::kClosed));
        return false;
      }
      case core::EventHub::NextKind::kLagging:
      case core::EventHub::NextKind::kClosed:
        FinishLocked(d.EndStatusLocked(next.kind));
        return false;
    }
    return false;
  }

  // On a hub thread: the store's answer to kReadStore.
  void OnReplayRead(uint64_t epoch, absl::StatusOr<core::EventBatch> batch) {
    {
      Derived& d = derived();
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (finished_) return;
      if (!batch.ok()) {
        FinishLocked(ToGrpcStatus(batch.status()));
        return;
      }
      if (epoch == replay_epoch_) {
        for (auto& e : batch->events) {
          if (d.MatchesLocked(e)) replay_.push_back(std::make_shared<core::EventRecord>(std::move(e)));
        }
        replay_scanned_ = batch->scanned_through;
        if (replay_.empty()) d.AdvanceLocked(replay_scanned_);
      }
    }
    Pump();
  }

  std::shared_ptr<Derived> self_;
  std::shared_ptr<core::EventHub::Listener> listener_;
  bool writing_ = false;
  bool reading_ = false;
  bool cancelled_ = false;
  bool pumping_ = false;
  bool repump_ = false;
  // Events read ahead from the store while replaying (at most kReplayBatch);
  // empty, with no allocation, once live.
  std::vector<std::shared_ptr<const core::EventRecord>> replay_;
  size_t replay_next_ = 0;
  int64_t replay_scanned_ = 0;
  uint64_t replay_epoch_ = 0;
};

}  // namespace switchboard::rpc
