#include "server/notification/status_routes.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "wire/managed_app.h"
#include "switchboard/v1/media.pb.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::notification {
namespace {

using google::protobuf::util::TimeUtil;

template <class Event>
absl::StatusOr<Event> Parse(const core::EventRecord& record) {
  Event event;
  if (!event.ParseFromString(record.data)) {
    return absl::InvalidArgumentError(
        absl::StrCat("log event ", record.sequence, " (", record.service, "/", record.kind, ") does not parse"));
  }
  return event;
}

// "ENCODE_CANCELED" -> "canceled", "DISPATCHED" -> "dispatched".
std::string EnumWord(std::string name, absl::string_view strip_prefix) {
  if (absl::StartsWith(name, strip_prefix)) name.erase(0, strip_prefix.size());
  return absl::AsciiStrToLower(absl::StrReplaceAll(name, {{"_", ""}}));
}

std::optional<std::string> ResourcingKey(const v1::ResourcingEvent& e) {
  switch (e.payload_case()) {
    case v1::ResourcingEvent::kRun: return "notify.switchboard.run.updated";
    case v1::ResourcingEvent::kStatus: return "notify.switchboard.status.updated";
    case v1::ResourcingEvent::kPullRequest: return "notify.switchboard.pullrequest.updated";
    case v1::ResourcingEvent::kPipeline: return "notify.switchboard.pipeline.updated";
    case v1::ResourcingEvent::kWorkspace: return "notify.switchboard.workspace.updated";
    default: return std::nullopt;
  }
}

std::optional<std::string> MediaKey(const v1::MediaEvent& e) {
  switch (e.payload_case()) {
    case v1::MediaEvent::kAcknowledged: return "notify.switchboard.operation.acknowledged";
    case v1::MediaEvent::kScheduled: return "notify.switchboard.operation.scheduled";
    case v1::MediaEvent::kSucceeded: return "notify.switchboard.operation.succeeded";
    case v1::MediaEvent::kFailure: return "notify.switchboard.operation.failed";
    case v1::MediaEvent::kEncode:
      if (e.encode().state() == v1::ENCODE_STATE_UNSPECIFIED) return std::nullopt;
      return absl::StrCat("notify.switchboard.encode.", EnumWord(v1::EncodeState_Name(e.encode().state()), "ENCODE_"));
    case v1::MediaEvent::kStorage:
      if (e.storage().kind() == v1::StorageEvent::KIND_UNSPECIFIED) return std::nullopt;
      return absl::StrCat("notify.switchboard.storage.", EnumWord(v1::StorageEvent::Kind_Name(e.storage().kind()), ""));
    default: return std::nullopt;
  }
}

std::optional<std::string> NotificationKey(const v1::NotificationEvent& e) {
  if (e.payload_case() != v1::NotificationEvent::kApplication || e.application().history_size() == 0) {
    return std::nullopt;
  }
  const auto& last = e.application().history(e.application().history_size() - 1);
  std::string type = wire::ManagedAppEventTypeName(last.event_type());
  std::string state = wire::ProvisioningStateName(last.provisioning_state());
  if (type.empty() || state.empty()) return std::nullopt;
  return absl::AsciiStrToLower(absl::StrCat("notify.managedapp.", type, ".", state));
}

struct Parsed {
  std::optional<std::string> key;
  std::string json;
};

template <class Event, class KeyFn>
absl::StatusOr<Parsed> ParseWith(const core::EventRecord& record, KeyFn key_fn, const KeyFilter* json_for) {
  auto event = Parse<Event>(record);
  if (!event.ok()) return event.status();
  Parsed parsed{key_fn(*event), ""};
  if (json_for != nullptr && parsed.key.has_value() && (*json_for)(*parsed.key)) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    auto s = google::protobuf::util::MessageToJsonString(*event, &parsed.json, options);
    if (!s.ok()) return absl::InternalError(absl::StrCat("log event ", record.sequence, ": ", s.ToString()));
  }
  return parsed;
}

absl::StatusOr<Parsed> ParseRecord(const core::EventRecord& record, const KeyFilter* json_for) {
  if (record.service == "resourcing") return ParseWith<v1::ResourcingEvent>(record, ResourcingKey, json_for);
  if (record.service == "media") return ParseWith<v1::MediaEvent>(record, MediaKey, json_for);
  // Only applications: the bus's own events are never bridged.
  if (record.service == "notification" && record.kind == "application") {
    return ParseWith<v1::NotificationEvent>(record, NotificationKey, json_for);
  }
  return Parsed{};
}

}  // namespace

const std::vector<std::string>& AllStatusRoutingKeys() {
  // Built from the key functions over every payload and enum value, so it
  // cannot drift from them.
  static const auto* keys = [] {
    auto* out = new std::vector<std::string>;
    auto add = [&](std::optional<std::string> key) {
      if (key.has_value() && std::find(out->begin(), out->end(), *key) == out->end()) out->push_back(std::move(*key));
    };
    auto each_payload = [](auto event, auto key_fn, auto&& add_key) {
      const auto* oneof = event.GetDescriptor()->FindOneofByName("payload");
      for (int i = 0; oneof != nullptr && i < oneof->field_count(); ++i) {
        auto e = event;
        const auto* field = oneof->field(i);
        if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
          e.GetReflection()->MutableMessage(&e, field);
        } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_ENUM) {
          e.GetReflection()->SetEnumValue(&e, field, field->default_value_enum()->number());
        } else {
          continue;  // no status payload is a plain scalar
        }
        add_key(key_fn(e));
      }
    };
    each_payload(v1::ResourcingEvent(), ResourcingKey, add);
    each_payload(v1::MediaEvent(), MediaKey, add);
    for (int i = 0; i < v1::EncodeState_descriptor()->value_count(); ++i) {
      v1::MediaEvent e;
      e.mutable_encode()->set_state(static_cast<v1::EncodeState>(v1::EncodeState_descriptor()->value(i)->number()));
      add(MediaKey(e));
    }
    for (int i = 0; i < v1::StorageEvent::Kind_descriptor()->value_count(); ++i) {
      v1::MediaEvent e;
      e.mutable_storage()->set_kind(
          static_cast<v1::StorageEvent::Kind>(v1::StorageEvent::Kind_descriptor()->value(i)->number()));
      add(MediaKey(e));
    }
    for (int t = 0; t < v1::ManagedAppEventType_descriptor()->value_count(); ++t) {
      for (int p = 0; p < v1::ProvisioningState_descriptor()->value_count(); ++p) {
        v1::NotificationEvent e;
        auto* h = e.mutable_application()->add_history();
        h->set_event_type(
            static_cast<v1::ManagedAppEventType>(v1::ManagedAppEventType_descriptor()->value(t)->number()));
        h->set_provisioning_state(
            static_cast<v1::ProvisioningState>(v1::ProvisioningState_descriptor()->value(p)->number()));
        add(NotificationKey(e));
      }
    }
    return out;
  }();
  return *keys;
}

std::string StatusEventUuid(int64_t sequence) { return absl::StrCat("switchboard-event-", sequence); }

absl::StatusOr<std::optional<std::string>> StatusRoutingKey(const core::EventRecord& event) {
  auto parsed = ParseRecord(event, nullptr);
  if (!parsed.ok()) return parsed.status();
  return parsed->key;
}

absl::StatusOr<std::optional<v1::BusEnvelope>> StatusEnvelope(const core::EventRecord& event,
                                                              const KeyFilter& wanted, size_t max_event_bytes) {
  auto parsed = ParseRecord(event, &wanted);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->key.has_value() || !wanted(*parsed->key)) return std::optional<v1::BusEnvelope>();

  v1::BusEnvelope env;
  env.set_event_uuid(StatusEventUuid(event.sequence));
  env.set_event_name(*parsed->key);
  *env.mutable_event_creation_time() = TimeUtil::MicrosecondsToTimestamp(event.create_time_us);
  env.set_event_sender_id(kStatusSender);
  auto& fields = *env.mutable_data()->mutable_fields();
  fields["service"].set_string_value(event.service);
  fields["kind"].set_string_value(event.kind);
  fields["sequence"].set_number_value(static_cast<double>(event.sequence));
  fields["resource"].set_string_value(event.resource);
  fields["related"].set_string_value(event.related);
  if (parsed->json.size() > max_event_bytes) {
    fields["truncated"].set_bool_value(true);
  } else {
    google::protobuf::Struct body;
    auto s = google::protobuf::util::JsonStringToMessage(parsed->json, &body);
    if (!s.ok()) return absl::InternalError(absl::StrCat("log event ", event.sequence, ": ", s.ToString()));
    *fields["event"].mutable_struct_value() = std::move(body);
  }
  return std::optional<v1::BusEnvelope>(std::move(env));
}

}  // namespace switchboard::notification
