#pragma once
// The WatchMany RPC of every service: many watches over one bidirectional
// stream (proto: switchboard.v1.WatchManyRequest).
//
// The stream keeps, per watch, a cursor (the last sequence it has been
// given) and an optional resource. It walks the log from the smallest
// cursor: each event of the service goes out once, naming every watch whose
// cursor is behind it and whose resource matches, and every cursor behind it
// moves to it. So each watch gets each of its events exactly once and in log
// order, as a separate WatchEvents would, while an event that a thousand
// watches want costs one write. Like WatchStream: one write in flight, one
// wake-up per stream from the hub, events read from the hub's ring or the
// store, never queued. A stream whose slowest watch falls more than
// EventHub::Options::max_lag events behind the head ends with ABORTED.
//
// Resp is the service's <Service>WatchManyResponse (instantiated for the
// three in multi_watch.cc).

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/core/event_hub.h"
#include "server/rpc/guard.h"
#include "switchboard/v1/common.pb.h"

namespace switchboard::rpc {

template <class Resp>
class MultiWatchStream final : public grpc::ServerBidiReactor<v1::WatchManyRequest, Resp>,
                               public core::Waiter,
                               public std::enable_shared_from_this<MultiWatchStream<Resp>> {
 public:
  // `service`: "resourcing", "media" or "notification". Admits the caller
  // (role reader) before anything else.
  static grpc::ServerBidiReactor<v1::WatchManyRequest, Resp>* Start(grpc::CallbackServerContext* ctx,
                                                                   const Guard* guard, core::EventHub* hub,
                                                                   const char* service);

  void Wake() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      parked_ = false;
    }
    Pump();
  }
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  MultiWatchStream(grpc::CallbackServerContext* ctx, const Guard* guard, core::EventHub* hub, const char* service);

  struct Watch {
    int64_t cursor = 0;
    std::string resource;
  };
  struct Ended {
    std::vector<int64_t> ids;
    int code = 0;
    std::string message;
  };

  // Applies an add or cancel; true when the stream must pump (something to
  // send or replay), false when the change needs nothing now.
  bool HandleRequestLocked(const v1::WatchManyRequest& req);
  void Pump();
  bool Step();
  // Sends `event` to the watches behind it that match; false if none did.
  bool DeliverLocked(const std::shared_ptr<const core::EventRecord>& event);
  void AdvanceAllLocked(int64_t to);
  void FinishLocked(grpc::Status status);

  static constexpr int kReplayBatch = 256;

 public:
  // Watches one stream may hold; an add beyond it ends that watch with
  // RESOURCE_EXHAUSTED.
  static constexpr size_t kMaxWatchesPerStream = 100000;

 private:

  grpc::CallbackServerContext* ctx_;
  const Guard* guard_;
  core::EventHub* hub_;
  core::WatchFilter filter_;  // the service only
  std::shared_ptr<MultiWatchStream> self_;

  std::mutex mu_;
  std::map<int64_t, Watch> watches_;
  std::vector<Ended> ended_;
  v1::WatchManyRequest in_;
  Resp out_;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool live_ = false;
  // Parked in the hub, all watches at the head: an event will wake it.
  bool parked_ = false;
  bool pumping_ = false;
  bool repump_ = false;
  std::vector<std::shared_ptr<const core::EventRecord>> replay_;
  size_t replay_next_ = 0;
  int64_t replay_scanned_ = 0;
};

}  // namespace switchboard::rpc
