#include "server/notification/bus_engine.h"

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/proto_bytes.h"
#include "common/status.h"
#include "server/core/fingerprint.h"
#include "server/core/list_page.h"
#include "server/notification/topic.h"

namespace switchboard::notification {
namespace {

constexpr char kBusEventKind[] = "bus_event";
constexpr char kScopePublish[] = "notification.Publish";

absl::Status Required(bool present, absl::string_view field) {
  if (present) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " is required (docs/wire-formats.md section 3)"));
}

std::string BusEventName(absl::string_view uuid) { return absl::StrCat("busEvents/", uuid); }

}  // namespace

absl::Status ValidateEnvelope(const v1::BusEnvelope& e) {
  RETURN_IF_ERROR(Required(!e.event_uuid().empty(), "envelope.event_uuid"));
  if (e.event_uuid().size() > 128) {
    return absl::InvalidArgumentError("envelope.event_uuid is longer than 128 characters");
  }
  RETURN_IF_ERROR(ValidateRoutingKey("envelope.event_name", e.event_name()));
  RETURN_IF_ERROR(Required(e.has_event_creation_time(), "envelope.event_creation_time"));
  RETURN_IF_ERROR(Required(!e.event_sender_id().empty(), "envelope.event_sender_id"));
  RETURN_IF_ERROR(Required(e.has_data(), "envelope.data (a JSON object)"));
  for (int i = 0; i < e.errors_size(); ++i) {
    const auto& err = e.errors(i);
    if (err.error_type() == v1::BusError::TYPE_UNSPECIFIED || !v1::BusError::Type_IsValid(err.error_type())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "envelope.errors[", i, "].error_type must be one of debug, info, warning, softerror, harderror"));
    }
  }
  if (e.errors_count() < 0) {
    return absl::InvalidArgumentError("envelope.errors_count must not be negative");
  }
  return absl::OkStatus();
}

void BusEngine::Publish(const Principal& caller, const v1::PublishRequest& request,
                        std::function<void(core::Reply<v1::PublishResponse>)> done, std::vector<core::JobWrite> jobs) {
  const v1::BusEnvelope& env = request.envelope();
  if (absl::Status s = ValidateEnvelope(env); !s.ok()) return done(s);
  if (!request.request_id().empty() && request.request_id() != env.event_uuid()) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("request_id '", request.request_id(), "' differs from envelope.event_uuid '", env.event_uuid(),
                     "'; the event_uuid is the idempotency key, so leave request_id empty or equal to it")));
  }
  const std::string name = BusEventName(env.event_uuid());

  v1::BusEvent event;
  event.set_name(name);
  *event.mutable_envelope() = env;
  event.set_publisher(caller.name);
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  event.mutable_publish_time()->set_seconds(now_us / 1000000);
  event.mutable_publish_time()->set_nanos(static_cast<int32_t>(now_us % 1000000) * 1000);

  core::Mutation m;
  m.scope = kScopePublish;
  m.request_id = env.event_uuid();
  m.fingerprint = core::Fingerprint(env);
  m.jobs = std::move(jobs);
  // The event's sequence is only known inside the transaction.
  auto after = std::make_shared<AfterCommit>();
  auto matched = std::make_shared<int>(0);
  // One copy of the event, serialized once: the resource and the log event
  // (a NotificationEvent holding it) share the bytes.
  auto shared = std::make_shared<v1::BusEvent>(std::move(event));
  m.prepare = [this, shared, name, after, matched](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    v1::BusEvent& ev = *shared;
    ev.set_sequence(txn.NextSequence());
    std::string bytes = ev.SerializeAsString();
    v1::NotificationEvent head;
    head.set_request_id(ev.envelope().event_uuid());  // the idempotency key
    std::string log_event = head.SerializeAsString();
    AppendBytesField(log_event, v1::NotificationEvent::kBusEventFieldNumber, bytes);
    self.writes.push_back({kBusEventKind, name, std::move(bytes), false});
    self.events.push_back({"notification", kBusEventKind, name, ev.envelope().event_name(), std::move(log_event)});
    for (BusRoute* route : routes_) {
      ASSIGN_OR_RETURN(int n, route->Route(ev, txn, self, after.get()));
      *matched += n;
    }
    return absl::OkStatus();
  };
  m.make_response = [name, matched](int64_t last_sequence) {
    v1::PublishResponse resp;
    resp.set_name(name);
    resp.set_sequence(last_sequence);
    resp.set_matched_subscriptions(*matched);
    return resp.SerializeAsString();
  };
  store_->CommitAsync(std::move(m), [after, done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    for (auto& f : *after) f(r.ok() ? &*r : nullptr);
    if (!r.ok()) return done(r.status());
    v1::PublishResponse resp;
    if (!resp.ParseFromString(r->response)) return done(absl::DataLossError("stored Publish response is corrupt"));
    done(core::MaybeReplayed<v1::PublishResponse>(std::move(resp), r->replayed));
  });
}

absl::StatusOr<v1::BusEvent> BusEngine::GetBusEvent(absl::string_view name) const {
  std::string full = absl::StartsWith(name, "busEvents/") ? std::string(name) : BusEventName(name);
  if (full == "busEvents/") return absl::InvalidArgumentError("name is empty; give busEvents/{event_uuid}");
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(full);
    if (it != cache_.end()) return *it->second;
  }
  ASSIGN_OR_RETURN(std::optional<std::string> value, store_->GetResource(kBusEventKind, full));
  if (!value.has_value()) {
    return absl::NotFoundError(absl::StrCat("bus event '", full, "' was never published"));
  }
  auto event = std::make_shared<v1::BusEvent>();
  if (!event->ParseFromString(*value)) return absl::DataLossError(absl::StrCat("stored ", full, " is corrupt"));
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.emplace(full, event).second) {
    cache_order_.push_back(full);
    if (cache_order_.size() > kReadCacheCapacity) {
      cache_.erase(cache_order_.front());
      cache_order_.pop_front();
    }
  }
  return *event;
}

absl::StatusOr<v1::ListBusEventsResponse> BusEngine::ListBusEvents(const v1::ListBusEventsRequest& request) const {
  if (!request.binding().empty()) RETURN_IF_ERROR(ValidateBinding("binding", request.binding()));
  std::function<bool(const v1::BusEvent&)> keep;
  if (!request.binding().empty()) {
    keep = [&request](const v1::BusEvent& e) { return TopicMatches(request.binding(), e.envelope().event_name()); };
  }
  ASSIGN_OR_RETURN(auto page, core::ListPage<v1::BusEvent>(*store_, kBusEventKind, request.page_size(),
                                                           request.page_token(), keep));
  v1::ListBusEventsResponse resp;
  for (auto& e : page.items) *resp.add_events() = std::move(e);
  resp.set_next_page_token(std::move(page.next_page_token));
  return resp;
}

}  // namespace switchboard::notification
