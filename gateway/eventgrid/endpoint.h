#pragma once
// POST /api/eventgrid (docs/wire-formats.md section 4).
//
//   401  aeg-sas-key header / ?code= missing or wrong (constant time)
//   413  body over the limit (the HTTP server enforces it, 1 MB by default)
//   400  body is not an array of Event Grid events (Event Grid won't retry)
//   200  validation handshake: {"validationResponse": data.validationCode}
//   200  every event durably accepted by switchboardd, or rejected with a
//        response.failure that reached the topic (in as many POSTs as
//        Event Grid's limits need: outbound.h's SplitForTopic, the
//        TopicClient's options().limits)
//   503  switchboardd (or, for rejections, the topic) unavailable: Event
//        Grid redelivers the batch; events accepted before are idempotent
//        because the Event Grid id is their request_id.

#include <memory>
#include <string>

#include "common/log_limiter.h"
#include "common/http/server.h"
#include "gateway/eventgrid/handler.h"
#include "gateway/eventgrid/topic_client.h"
#include "gateway/http/metrics.h"

namespace switchboard::gateway::eventgrid {

class Endpoint {
 public:
  // `topic` may be null: rejections are then only logged.
  Endpoint(std::string key, const HandlerRegistry* handlers, const TopicClient* topic, Metrics* metrics);
  httpserver::Response Handle(const httpserver::Request& req) const;

 private:
  std::string key_;
  const HandlerRegistry* handlers_;
  const TopicClient* topic_;
  Metrics* metrics_;
  // Refused credentials: at most one log line a second (the metric counts all).
  mutable log::LogLimiter auth_log_;
};

}  // namespace switchboard::gateway::eventgrid
