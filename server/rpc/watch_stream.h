#pragma once
// One server-streaming watch: replays the log after `after_sequence`, then
// goes live. One write in flight; the next event is fetched only when the
// previous write is done, so a slow client costs at most one event of
// memory. A live watcher that falls more than EventHub::Options::max_lag
// events behind is ended with ABORTED and the trailing metadata
// `x-switchboard-resume-after`.
//
// Watch methods are registered "raw" (grpc::ByteBuffer): the log already
// holds each event serialized, so every watcher sends the same bytes without
// parsing or re-serializing them (fan-out to thousands of watchers is one
// reference-counted slice per event).

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/core/event_hub.h"
#include "server/rpc/guard.h"
#include "server/rpc/method_rules.h"

namespace switchboard::rpc {

inline constexpr char kResumeAfterTrailer[] = "x-switchboard-resume-after";

// A slice that points into the event's own bytes and keeps the event alive
// until gRPC is done with it.
grpc::Slice EventSlice(std::shared_ptr<const core::EventRecord> event);

// The step loop of a watch stream, on one thread at a time. A caller that
// finds it running leaves a note (`repump`) and returns; the running loop
// goes round once more for it unless `busy()` (a write in flight, or the
// stream finished: that completion pumps again). `pumping` and `repump` are
// guarded by `mu`; `step()` takes `mu` itself and returns true to run again
// at once; `busy()` runs under `mu`.
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

// Parses a raw request of a watch method.
template <class Req>
absl::Status ParseRawRequest(const grpc::ByteBuffer* raw, Req* out) {
  grpc::ByteBuffer copy(*raw);
  if (!grpc::SerializationTraits<Req>::Deserialize(&copy, out).ok()) {
    const MethodRule* rule = RuleForRequest(Req::descriptor());
    return UnparsableRequest(rule != nullptr ? FullMethodName(*rule) : "watch", Req::descriptor()->full_name());
  }
  return absl::OkStatus();
}

class WatchStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                          public core::Waiter,
                          public std::enable_shared_from_this<WatchStream> {
 public:
  // Starts a watch; a non-OK `precheck` (request validation, auth) ends it
  // at once with that status.
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Start(grpc::CallbackServerContext* ctx, core::EventHub* hub,
                                                           int64_t after, core::WatchFilter filter,
                                                           absl::Status precheck);

  void Wake() override { Pump(); }
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  WatchStream(grpc::CallbackServerContext* ctx, core::EventHub* hub, int64_t after, core::WatchFilter filter)
      : ctx_(ctx), hub_(hub), after_(after), filter_(std::move(filter)) {}

  void Pump();
  bool Step();
  void FinishLocked(grpc::Status status);

  static constexpr int kReplayBatch = 256;

  grpc::CallbackServerContext* ctx_;
  core::EventHub* hub_;
  std::shared_ptr<WatchStream> self_;

  std::mutex mu_;
  int64_t after_;
  const core::WatchFilter filter_;
  grpc::ByteBuffer msg_;
  int64_t pending_seq_ = 0;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool live_ = false;
  bool pumping_ = false;
  bool repump_ = false;
  // Events read ahead from the store while replaying (at most kReplayBatch);
  // empty, with no allocation, once live.
  std::vector<std::shared_ptr<const core::EventRecord>> replay_;
  size_t replay_next_ = 0;
  int64_t replay_scanned_ = 0;
};

// The body of every watch RPC: parse, admit (role reader), build the filter
// with `make_filter(request, &filter)`, start the stream. Any failure ends the
// stream at once with that status.
template <class Req, class FilterFn>
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartWatch(grpc::CallbackServerContext* ctx, const Guard& guard,
                                                       core::EventHub* hub, const char* service,
                                                       const grpc::ByteBuffer* raw, FilterFn make_filter) {
  Req req;
  core::WatchFilter filter;
  filter.service = service;
  absl::Status s = ParseRawRequest(raw, &req);
  if (s.ok()) s = guard.Admit(ctx, req).status();
  if (s.ok()) s = make_filter(req, &filter);
  return WatchStream::Start(ctx, hub, s.ok() ? req.after_sequence() : 0, std::move(filter), s);
}

}  // namespace switchboard::rpc
