#pragma once
// The WatchMany RPC of every service: many watches over one bidirectional
// stream (proto: switchboard.v1.WatchManyRequest).
//
// The stream walks the log of its service from one position. Each watch has
// a cursor (its after_sequence); it has been given everything it matches up
// to the later of its cursor and the stream's position. Each event goes out
// once, naming every watch it matches whose cursor is behind it. So each
// watch gets each of its events exactly once and in log order, as a
// separate WatchEvents would, while an event that a thousand watches want
// costs one write. A watch added behind the position makes the stream walk
// back to it (the others do not see those events twice).
//
// An event's watches are found by an index (watches on every event of the
// service; watches by resource), never by a scan of the watches, and the
// hub wakes the stream only for events of its keys (the service, or the
// resources of its watches). The event's bytes are written as they are in
// the log, inside a response built without parsing them (rpc/watch_wire.h):
// the method is registered raw.
//
// The state machine (replay, live, one write in flight, lag, cancel) is
// rpc/watch_reactor.h. A stream whose position falls more than
// EventHub::Options::max_lag events behind the head ends with ABORTED.
//
// Resp is the service's <Service>WatchManyResponse (instantiated for the
// three in multi_watch.cc).
//
// Registering it: a raw bidirectional method cannot be layered over the
// generated CallbackService (the typed and the raw WatchMany differ only in
// their return type), so each service marks its WatchMany raw in its
// constructor:
//   MarkMethodRawCallback(rpc::WatchManyIndex(v1::FooService::service_full_name()),
//                         rpc::WatchManyHandler<v1::FooWatchManyResponse>(guard, hub, "foo"));

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "server/core/event_hub.h"
#include "server/rpc/guard.h"
#include "server/rpc/watch_reactor.h"
#include "switchboard/v1/common.pb.h"

namespace switchboard::rpc {

template <class Resp>
class MultiWatchStream final
    : public WatchReactor<MultiWatchStream<Resp>, grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>> {
  using Machine = WatchReactor<MultiWatchStream<Resp>, grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>>;

 public:
  // `service`: "resourcing", "media" or "notification". Admits the caller
  // (role reader) before anything else.
  static grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Start(grpc::CallbackServerContext* ctx,
                                                                           const Guard* guard,
                                                                           core::EventHub* hub,
                                                                           const char* service);

  void OnReadDone(bool ok) override;

  // Watches one stream may hold; an add beyond it ends that watch with
  // RESOURCE_EXHAUSTED.
  static constexpr size_t kMaxWatchesPerStream = 100000;

 private:
  friend Machine;

  MultiWatchStream(grpc::CallbackServerContext* ctx, const Guard* guard, core::EventHub* hub, const char* service)
      : Machine(ctx, hub, service), guard_(guard) {}

  struct Watch {
    int64_t cursor = 0;
    std::string resource;
    // Added behind the position; the stream walks back at its next step.
    bool behind = false;
  };
  struct Ended {
    std::vector<int64_t> ids;
    int code = 0;
    std::string message;
  };

  // Applies an add or cancel; true when the stream must pump (something to
  // send or replay), false when the change needs nothing now.
  bool HandleRequestLocked(const v1::WatchManyRequest& req);
  bool AddLocked(const v1::WatchManyRequest::AddWatch& add);
  // Adds the watch to the index and its key to the hub's (returning the
  // head then), or takes it out of both.
  int64_t IndexLocked(int64_t id, const std::string& resource, bool insert);

  // What differs from WatchStream (see rpc/watch_reactor.h).
  WatchControl ControlLocked();
  int64_t PositionLocked() const { return pos_; }
  bool MatchesLocked(const core::EventRecord& e) const;
  bool SendEventLocked(std::shared_ptr<const core::EventRecord> event);
  void AdvanceLocked(int64_t to) { pos_ = std::max(pos_, to); }
  bool MoreLocked() const { return false; }  // one event per message
  void SealLocked() {}
  void WrittenLocked() {}
  grpc::Status EndStatusLocked(core::EventHub::NextKind why);

  const Guard* guard_;
  grpc::ByteBuffer in_;

  absl::flat_hash_map<int64_t, Watch> watches_;
  // The index: watches of every event of the service, and by resource.
  absl::btree_set<int64_t> every_;
  absl::flat_hash_map<std::string, absl::btree_set<int64_t>> by_resource_;
  // Every watch not `behind` has been given everything it matches up to
  // max(its cursor, pos_).
  int64_t pos_ = 0;
  // The smallest cursor of the watches added behind since the last step;
  // -1 when none.
  int64_t rewind_to_ = -1;
  // No watch's cursor is past this: an event after it goes to every watch
  // it matches without looking at their cursors.
  int64_t max_cursor_ = 0;
  std::deque<Ended> ended_;
};

// The index of the WatchMany method in the service named `service_full_name`
// (its position in the proto, as the generated code numbers methods).
int WatchManyIndex(const char* service_full_name);

// The handler of a raw WatchMany: a MultiWatchStream<Resp> per call.
template <class Resp>
grpc::internal::MethodHandler* WatchManyHandler(const Guard* guard, core::EventHub* hub, const char* service) {
  return new grpc::internal::CallbackBidiHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
      [guard, hub, service](grpc::CallbackServerContext* ctx) {
        return MultiWatchStream<Resp>::Start(ctx, guard, hub, service);
      });
}

}  // namespace switchboard::rpc
