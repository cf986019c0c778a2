#pragma once
// One server-streaming watch: replays the log after `after_sequence`, then
// goes live (the state machine is rpc/watch_reactor.h). A live watcher that
// falls more than EventHub::Options::max_lag events behind is ended with
// ABORTED and the trailing metadata `x-switchboard-resume-after`.
//
// Watch methods are registered "raw" (grpc::ByteBuffer): the log already
// holds each event serialized, so every watcher sends the same bytes without
// parsing or re-serializing them (rpc/watch_wire.h).
//
// A batching watch (WatchEventBatches) sends the events ready at each write
// together, as field 1 of one message (`max_batch` events, kMaxBatchBytes
// of them, at most): one gRPC message per burst instead of one per event.

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <functional>
#include <memory>
#include <string>

#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "server/core/event_hub.h"
#include "server/rpc/guard.h"
#include "server/rpc/method_rules.h"
#include "server/rpc/watch_reactor.h"
#include "server/rpc/watch_wire.h"

namespace switchboard::rpc {

inline constexpr char kResumeAfterTrailer[] = "x-switchboard-resume-after";

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

class WatchStream final : public WatchReactor<WatchStream, grpc::ServerWriteReactor<grpc::ByteBuffer>> {
 public:
  // Starts a watch; a non-OK `precheck` (request validation, auth) ends it
  // at once with that status.
  // `max_batch` 0: one event per message, the event itself; more: a
  // batching watch.
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Start(grpc::CallbackServerContext* ctx, core::EventHub* hub,
                                                           int64_t after, core::WatchFilter filter,
                                                           absl::Status precheck, int max_batch = 0);
  // A batching watch's events per message stop growing past this many bytes.
  static constexpr size_t kMaxBatchBytes = 256 * 1024;
  // The same for a watch that starts only once `lookup` (a store read, such
  // as "the run it names exists now") returns OK; otherwise it ends with
  // lookup's status. The lookup runs on a hub thread
  // (EventHub::RunReadAsync), never in the gRPC callback, and may finish
  // the filter it is given.
  using Lookup = std::function<absl::Status(core::WatchFilter*)>;
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* StartAfterLookup(grpc::CallbackServerContext* ctx,
                                                                      core::EventHub* hub, int64_t after,
                                                                      core::WatchFilter filter, Lookup lookup);

 private:
  friend class WatchReactor<WatchStream, grpc::ServerWriteReactor<grpc::ByteBuffer>>;

  WatchStream(grpc::CallbackServerContext* ctx, core::EventHub* hub, int64_t after, core::WatchFilter filter,
              int max_batch)
      : WatchReactor(ctx, hub, filter.service), after_(after), filter_(std::move(filter)), max_batch_(max_batch) {}

  static std::shared_ptr<WatchStream> Create(grpc::CallbackServerContext* ctx, core::EventHub* hub, int64_t after,
                                             core::WatchFilter filter, int max_batch = 0);
  // Registers the filter's keys, tells the client (initial metadata) and
  // walks the log; nothing if the stream has finished (cancelled).
  void Go();

  // What differs from MultiWatchStream (see rpc/watch_reactor.h).
  WatchControl ControlLocked() { return WatchControl::kNone; }
  // Past the events already in the message in the making.
  int64_t PositionLocked() const { return std::max(after_, pending_seq_); }
  bool MatchesLocked(const core::EventRecord& e) const { return filter_.Matches(e); }
  bool SendEventLocked(std::shared_ptr<const core::EventRecord> event);
  bool MoreLocked() const { return batched_ > 0 && batched_ < max_batch_ && batch_.size() < kMaxBatchBytes; }
  void SealLocked();
  void AdvanceLocked(int64_t to) { after_ = std::max(after_, to); }
  void WrittenLocked() { after_ = std::max(after_, pending_seq_); }
  grpc::Status EndStatusLocked(core::EventHub::NextKind why);

  // The last sequence sent (or passed by: nothing matched up to it).
  int64_t after_;
  // Fixed once the stream goes (Go): a lookup may finish it before.
  core::WatchFilter filter_;
  // The last event put in a message.
  int64_t pending_seq_ = 0;
  const int max_batch_;
  // A batching watch's message in the making, and its events.
  std::string batch_;
  int batched_ = 0;
};

// What every watch RPC does first: parse `raw` into *req, admit it (role
// reader) and build *filter of `service` with `make_filter(*req, filter)`;
// the first failure.
template <class Req, class FilterFn>
absl::Status ParseWatchRequest(grpc::CallbackServerContext* ctx, const Guard& guard, const char* service,
                               const grpc::ByteBuffer* raw, FilterFn& make_filter, Req* req,
                               core::WatchFilter* filter) {
  filter->service = service;
  absl::Status s = ParseRawRequest(raw, req);
  if (s.ok()) s = guard.Admit(ctx, *req).status();
  if (s.ok()) s = make_filter(*req, filter);
  return s;
}

// The body of every watch RPC: parse, admit (role reader), build the filter
// with `make_filter(request, &filter)`, start the stream. Any failure ends the
// stream at once with that status.
// `max_batch` as WatchStream::Start's.
template <class Req, class FilterFn>
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartWatch(grpc::CallbackServerContext* ctx, const Guard& guard,
                                                       core::EventHub* hub, const char* service,
                                                       const grpc::ByteBuffer* raw, FilterFn make_filter,
                                                       int max_batch = 0) {
  Req req;
  core::WatchFilter filter;
  absl::Status s = ParseWatchRequest(ctx, guard, service, raw, make_filter, &req, &filter);
  return WatchStream::Start(ctx, hub, s.ok() ? req.after_sequence() : 0, std::move(filter), s, max_batch);
}

// The same for a watch of one resource that must exist when it starts
// (docs/api.md: NOT_FOUND otherwise): `make_filter` validates the request
// in the callback, then `lookup(request, &filter)`, the store read, runs on
// a hub thread (WatchStream::StartAfterLookup) and the stream starts when it
// returns OK.
template <class Req, class FilterFn, class LookupFn>
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartWatchAfterLookup(grpc::CallbackServerContext* ctx,
                                                                  const Guard& guard, core::EventHub* hub,
                                                                  const char* service, const grpc::ByteBuffer* raw,
                                                                  FilterFn make_filter, LookupFn lookup) {
  Req req;
  core::WatchFilter filter;
  absl::Status s = ParseWatchRequest(ctx, guard, service, raw, make_filter, &req, &filter);
  if (!s.ok()) return WatchStream::Start(ctx, hub, 0, std::move(filter), s);
  const int64_t after = req.after_sequence();
  return WatchStream::StartAfterLookup(
      ctx, hub, after, std::move(filter),
      [req = std::move(req), lookup = std::move(lookup)](core::WatchFilter* f) { return lookup(req, f); });
}

}  // namespace switchboard::rpc
