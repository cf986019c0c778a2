#pragma once
// Where outbound response events come from: a watch of switchboardd's event
// log, each log event encoded into zero or more Event Grid events. The
// publisher reads a source, batches, POSTs and commits its cursor.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

// A LogSource over any service's server-streaming Watch RPC.
template <class EventMsg>
class WatchSource : public LogSource {
 public:
  using OpenFn =
      std::function<std::unique_ptr<grpc::ClientReader<EventMsg>>(grpc::ClientContext*, int64_t after_sequence)>;
  using EncodeFn = std::function<std::vector<Event>(const EventMsg&)>;

  WatchSource(const client::Connection* conn, OpenFn open, EncodeFn encode)
      : conn_(conn), open_(std::move(open)), encode_(std::move(encode)) {}

  void Open(int64_t after) override {
    std::lock_guard<std::mutex> lock(mu_);
    ctx_ = conn_->NewStreamContext();
    reader_ = open_(ctx_.get(), after);
  }
  std::optional<Encoded> Next() override {
    EventMsg msg;
    if (!reader_ || !reader_->Read(&msg)) return std::nullopt;
    Encoded out;
    out.sequence = msg.sequence();
    out.events = encode_(msg);
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
  const client::Connection* conn_;
  OpenFn open_;
  EncodeFn encode_;
  std::mutex mu_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<EventMsg>> reader_;
};

}  // namespace switchboard::gateway::eventgrid
