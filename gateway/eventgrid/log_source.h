#pragma once
// Where outbound response events come from: a watch of switchboardd's event
// log, each log event encoded into zero or more Event Grid events. The
// publisher reads a source, batches, POSTs and commits its cursor.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <vector>

#include "clients/lib/client.h"
#include "gateway/eventgrid/event.h"

namespace switchboard::gateway::eventgrid {

struct Encoded {
  int64_t sequence = 0;
  std::vector<Event> events;  // may be empty: the log event has no response
};

class LogSource {
 public:
  virtual ~LogSource() = default;
  // Starts a watch of the log after `after`.
  virtual void Open(int64_t after) = 0;
  // Blocks for the next log event; nullopt when the watch ended.
  virtual std::optional<Encoded> Next() = 0;
  // How the watch ended (after Next returned nullopt).
  virtual grpc::Status Finish() = 0;
  // Ends a blocked Next from another thread.
  virtual void Cancel() = 0;
};

// A LogSource over any service's server-streaming Watch RPC: one event per
// message (StreamMsg = EventMsg, as WatchEvents), or several (StreamMsg a
// batch whose `events` are EventMsg, as MediaService.WatchEventBatches:
// gRPC's cost per message is then paid once per batch).
template <class EventMsg, class StreamMsg = EventMsg>
class WatchSource : public LogSource {
 public:
  using OpenFn =
      std::function<std::unique_ptr<grpc::ClientReader<StreamMsg>>(grpc::ClientContext*, int64_t after_sequence)>;
  using EncodeFn = std::function<std::vector<Event>(const EventMsg&)>;

  WatchSource(const client::Connection* conn, OpenFn open, EncodeFn encode)
      : conn_(conn), open_(std::move(open)), encode_(std::move(encode)) {}

  void Open(int64_t after) override {
    std::lock_guard<std::mutex> lock(mu_);
    in_.Clear();
    next_ = 0;
    ctx_ = conn_->NewStreamContext();
    reader_ = open_(ctx_.get(), after);
  }
  std::optional<Encoded> Next() override {
    const EventMsg* msg = NextEvent();
    if (msg == nullptr) return std::nullopt;
    Encoded out;
    out.sequence = msg->sequence();
    out.events = encode_(*msg);
    return out;
  }
  grpc::Status Finish() override {
    if (!reader_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "watch not open");
    return reader_->Finish();
  }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (ctx_) ctx_->TryCancel();
  }

 private:
  // The next event of the stream, read into in_ (reused, so that its
  // memory is too); null when the watch ended.
  const EventMsg* NextEvent() {
    if constexpr (std::is_same_v<EventMsg, StreamMsg>) {
      if (!reader_ || !reader_->Read(&in_)) return nullptr;
      return &in_;
    } else {
      while (next_ >= in_.events_size()) {
        next_ = 0;
        if (!reader_ || !reader_->Read(&in_)) return nullptr;
      }
      return &in_.events(next_++);
    }
  }

  const client::Connection* conn_;
  OpenFn open_;
  EncodeFn encode_;
  std::mutex mu_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<StreamMsg>> reader_;
  StreamMsg in_;
  int next_ = 0;
};

}  // namespace switchboard::gateway::eventgrid
