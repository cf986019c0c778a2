#include "gateway/eventgrid/endpoint.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/status.h"
#include "gateway/endpoints/status_map.h"
#include "gateway/eventgrid/outbound.h"
#include "gateway/eventgrid/responses.h"

namespace switchboard::gateway::eventgrid {

Endpoint::Endpoint(std::string key, const HandlerRegistry* handlers, const TopicClient* topic, Metrics* metrics)
    : key_(std::move(key)), handlers_(handlers), topic_(topic), metrics_(metrics) {}

httpserver::Response Endpoint::Handle(const httpserver::Request& req) const {
  if (req.method != "POST") return httpserver::Response::Text(405, "use POST /api/eventgrid");
  if (key_.empty()) return httpserver::Response::Text(404, "the Event Grid endpoint is disabled: configure eventgrid_key");
  // The header wins when both are given; each comparison is constant time.
  const std::string& given = req.headers.count("aeg-sas-key") ? req.Header("aeg-sas-key") : req.Query("code");
  if (!ConstantTimeEquals(given, key_)) {
    metrics_->RecordError("eventgrid_auth");
    // Who and where, never what was given; at most one line a second.
    if (auto dropped = auth_log_.Allow()) {
      log::Warn("authentication failed",
                {{"endpoint", "POST /api/eventgrid"},
                 {"remote", req.remote},
                 {"problem", req.headers.count("aeg-sas-key") ? "aeg-sas-key header (wrong)"
                                : req.query.count("code")       ? "code parameter (wrong)"
                                                                : "missing"},
                 {"not_logged_since_last", *dropped}});
    }
    return httpserver::Response::Text(401, "aeg-sas-key header or code parameter: missing or wrong");
  }
  auto batch = wire::ParseEventGridBatch(req.body);
  if (!batch.ok()) {
    metrics_->RecordError("eventgrid_decode");
    return httpserver::Response::Text(400, std::string(batch.status().message()));
  }
  for (const Event& e : *batch) {
    if (e.event_type != kValidationEventType) continue;
    if (!e.data.is_object() || !e.data.contains("validationCode") || !e.data["validationCode"].is_string()) {
      return httpserver::Response::Text(400, "data.validationCode: required string of the validation event");
    }
    // The synchronous answer completes the handshake; the manual one's
    // validationUrl is logged for the operator, never fetched.
    std::string url = e.data.contains("validationUrl") && e.data["validationUrl"].is_string()
                          ? e.data["validationUrl"].get<std::string>()
                          : std::string();
    log::Info("event grid subscription validated", {{"id", e.id}, {"validationUrl", url}});
    return httpserver::Response::Json(200, nlohmann::json{{"validationResponse", e.data["validationCode"]}}.dump());
  }

  // Every event of the batch is submitted at once, one call per handler
  // (the server commits them together); the answer waits for all of them.
  const size_t n = batch->size();
  std::vector<Handler*> handler(n, nullptr);
  std::vector<grpc::Status> status(n);
  std::vector<std::pair<Handler*, std::vector<size_t>>> groups;
  for (size_t i = 0; i < n; ++i) {
    handler[i] = handlers_->Find((*batch)[i].event_type);
    if (!handler[i]) continue;
    auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& p) { return p.first == handler[i]; });
    if (g == groups.end()) g = groups.insert(groups.end(), {handler[i], {}});
    g->second.push_back(i);
  }
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = groups.size();
  for (const auto& [h, indexes] : groups) {
    std::vector<const Event*> events;
    for (size_t i : indexes) events.push_back(&(*batch)[i]);
    h->SubmitBatchAsync(events, [&, &indexes = indexes](std::vector<grpc::Status> got) {
      std::lock_guard<std::mutex> lock(mu);
      for (size_t k = 0; k < indexes.size(); ++k) {
        status[indexes[k]] = k < got.size() ? std::move(got[k])
                                            : grpc::Status(grpc::StatusCode::INTERNAL, "the handler gave no status");
      }
      if (--pending == 0) cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
  }

  std::vector<Event> direct;  // responses the gateway publishes itself
  int accepted = 0;
  for (size_t i = 0; i < n; ++i) {
    const Event& e = (*batch)[i];
    Handler* h = handler[i];
    if (!h) {
      auto out = UnknownTypeEvents(e);
      direct.insert(direct.end(), out.begin(), out.end());
      continue;
    }
    const grpc::Status& s = status[i];
    if (s.ok()) {
      ++accepted;
      continue;
    }
    if (IsRetryable(s)) {
      metrics_->RecordError("eventgrid_unavailable");
      log::Warn("event grid batch not accepted",
                {{"id", e.id},
                 {"code", CodeName(static_cast<absl::StatusCode>(s.error_code()))},
                 {"error", s.error_message()}});
      return httpserver::Response::Text(503, absl::StrCat("switchboardd unavailable, retry later: ",
                                                    CodeName(static_cast<absl::StatusCode>(s.error_code())), ": ",
                                                    s.error_message()));
    }
    auto out = h->Rejection(e, s);
    direct.insert(direct.end(), out.begin(), out.end());
  }
  metrics_->Count("eventgrid_events_accepted", "Event Grid events durably accepted by switchboardd.", accepted);
  if (!direct.empty()) {
    metrics_->Count("eventgrid_events_rejected", "Response events the gateway published itself (failures, acks).",
                    direct.size());
    if (!topic_) {
      log::Warn("rejected Event Grid events, but no topic is configured to report them",
                {{"responses", direct.size()}});
    } else {
      // In POSTs within Event Grid's limits, one after the other: each
      // request's ack and failure stay in order, and so do the requests.
      std::vector<std::string> bodies = SplitForTopic(direct, topic_->options().limits, metrics_);
      for (size_t k = 0; k < bodies.size(); ++k) {
        auto s = topic_->Post(bodies[k], std::chrono::steady_clock::now() + std::chrono::seconds(10));
        if (!s.ok()) {
          metrics_->RecordError("eventgrid_topic");
          log::Warn("cannot report rejected events to the event grid topic; answering 503",
                    {{"error", std::string(s.message())},
                     {"responses", direct.size()},
                     {"post", k + 1},
                     {"posts", bodies.size()}});
          return httpserver::Response::Text(503, absl::StrCat("cannot report failures to the topic, retry later: ",
                                                        s.message()));
        }
      }
    }
  }
  return httpserver::Response::Text(200, absl::StrCat("accepted ", accepted, " of ", batch->size(), " events"));
}

}  // namespace switchboard::gateway::eventgrid
