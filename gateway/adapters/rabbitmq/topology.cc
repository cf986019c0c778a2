#include "gateway/adapters/rabbitmq/topology.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace switchboard::gateway::rabbitmq {
namespace {

absl::Status CheckBinding(absl::string_view b, absl::string_view field) {
  if (b.empty() || b.size() > 255) return absl::InvalidArgumentError(absl::StrCat(field, ": binding must be 1-255 characters"));
  for (absl::string_view word : absl::StrSplit(b, '.')) {
    if (word.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": binding '", b, "' has an empty word"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<GorgApp>> ParseConsumeSpec(absl::string_view spec, absl::string_view key) {
  std::vector<GorgApp> out;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::string field = absl::StrCat(key, " '", entry, "'");
    size_t colon = entry.find(':');
    if (colon == absl::string_view::npos || colon == 0 || colon + 1 == entry.size()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": must be NAME:BINDING[|BINDING...]"));
    }
    GorgApp app;
    app.app_id = std::string(entry.substr(0, colon));
    for (char c : app.app_id) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                c == '.';
      if (!ok) return absl::InvalidArgumentError(absl::StrCat(field, ": the name may only hold [A-Za-z0-9_.-]"));
    }
    for (absl::string_view b : absl::StrSplit(entry.substr(colon + 1), '|')) {
      if (auto s = CheckBinding(b, field); !s.ok()) return s;
      app.bindings.emplace_back(b);
    }
    out.push_back(std::move(app));
  }
  return out;
}

absl::Status DeclareExchange(AmqpClient& amqp, const std::string& exchange) {
  return amqp.DeclareExchange(exchange, "topic", /*durable=*/true);
}

absl::Status DeclareApp(AmqpClient& amqp, const std::string& exchange, const GorgApp& app, int64_t deferred_ttl_ms) {
  const std::string job = JobQueue(app.app_id);
  if (auto s = amqp.DeclareQueue(job, true); !s.ok()) return s;
  for (const auto& b : app.bindings) {
    if (auto s = amqp.BindQueue(job, exchange, b); !s.ok()) return s;
  }
  QueueArgs deferred;
  deferred.message_ttl_ms = deferred_ttl_ms;
  deferred.dead_letter_exchange = "";  // the default exchange routes by queue name
  deferred.dead_letter_routing_key = job;
  if (auto s = amqp.DeclareQueue(DeferredQueue(app.app_id), true, deferred); !s.ok()) return s;
  return amqp.DeclareQueue(DeadQueue(app.app_id), true);
}

}  // namespace switchboard::gateway::rabbitmq
