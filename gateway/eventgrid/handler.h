#pragma once
// The seam between the Event Grid endpoint and the Event Grid codec: a
// handler turns one request event into one gRPC call on switchboardd. The
// endpoint owns authentication, the validation handshake, batching and the
// HTTP answer; handlers own what `data` means.
//
// Contract of Submit:
//  * OK: the server durably accepted the request (or had accepted it before
//    with the same request_id). Its response events (ack, then success or
//    failure) come out of the server's log through the publisher.
//  * INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS...:
//    the request will never be accepted. The endpoint publishes the
//    acknowledgement (for request.*) and a response.failure built from the
//    status, straight to the topic.
//  * UNAVAILABLE and other retryable codes (status_map.h): nothing was
//    accepted; the endpoint answers 503 so Event Grid redelivers.

#include <grpcpp/support/status.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/eventgrid/event.h"
#include "gateway/eventgrid/responses.h"

namespace switchboard::gateway::eventgrid {

class Handler {
 public:
  virtual ~Handler() = default;
  // True for the eventTypes this handler serves.
  virtual bool Handles(const std::string& event_type) const = 0;
  // One gRPC call; `request_id` is the Event Grid event id.
  virtual grpc::Status Submit(const Event& event, const std::string& request_id) = 0;
  // The same without blocking: `done` runs once, on any thread, with the
  // status Submit would have returned. The endpoint submits every event of a
  // batch at once this way so the server commits them together. The default
  // runs Submit inline.
  virtual void SubmitAsync(const Event& event, const std::string& request_id,
                           std::function<void(grpc::Status)> done) {
    done(Submit(event, request_id));
  }
  // Several events at once, each with its event id as request_id: `done`
  // runs once, on any thread, with one status per event, in order. A
  // handler that has a batch RPC sends them in one call; the default
  // submits each with SubmitAsync.
  virtual void SubmitBatchAsync(const std::vector<const Event*>& events,
                                std::function<void(std::vector<grpc::Status>)> done);
  // The Gridwich handler class named in response.failure, e.g.
  // "BlobMetadataCreateHandler".
  virtual std::string HandlerClassName(const std::string& event_type) const = 0;
  // The response events for a request the server refused for good: by
  // default the gateway's acknowledge + response.failure (responses.h).
  virtual std::vector<Event> Rejection(const Event& request, const grpc::Status& status) const {
    return RejectionEvents(request, status, HandlerClassName(request.event_type));
  }
};

inline void Handler::SubmitBatchAsync(const std::vector<const Event*>& events,
                                      std::function<void(std::vector<grpc::Status>)> done) {
  struct State {
    std::mutex mu;
    std::vector<grpc::Status> status;
    size_t left;
    std::function<void(std::vector<grpc::Status>)> done;
  };
  if (events.empty()) return done({});
  auto st = std::make_shared<State>();
  st->status.resize(events.size());
  st->left = events.size();
  st->done = std::move(done);
  for (size_t i = 0; i < events.size(); ++i) {
    SubmitAsync(*events[i], events[i]->id, [st, i](grpc::Status s) {
      bool last;
      {
        std::lock_guard<std::mutex> lock(st->mu);
        st->status[i] = std::move(s);
        last = --st->left == 0;
      }
      if (last) st->done(std::move(st->status));
    });
  }
}

class HandlerRegistry {
 public:
  void Add(std::unique_ptr<Handler> handler) { handlers_.push_back(std::move(handler)); }
  // nullptr when no handler serves `event_type`.
  Handler* Find(const std::string& event_type) const {
    for (const auto& h : handlers_) {
      if (h->Handles(event_type)) return h.get();
    }
    return nullptr;
  }

 private:
  std::vector<std::unique_ptr<Handler>> handlers_;
};

}  // namespace switchboard::gateway::eventgrid
