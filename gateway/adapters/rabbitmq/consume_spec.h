#pragma once
// The gateway's RabbitMQ binding specs, `amqp_consume` and `amqp_bridge`
// (docs/gateway.md): "NAME:BINDING[|BINDING...][,NAME:...]". Read once at
// start; the fuzz target tools/fuzz/amqp_spec_fuzzer.cc feeds it anything.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::gateway::rabbitmq {

struct GorgApp {
  std::string app_id;
  std::vector<std::string> bindings;
};

// The longest name: its queues ("<name>_deferred_q", the longest suffix)
// must fit AMQP's 255-byte short strings.
inline constexpr size_t kMaxAppIdLength = 255 - 11;

// "gappsd:request.gapps.#|notify.gapps.#,other:a.b" -> apps. Empty -> none.
// INVALID_ARGUMENT names the entry at fault (names are 1-244 of
// [A-Za-z0-9_.-]; bindings are topic patterns of 1-255 bytes, no empty word).
// `key` names the config key in errors. amqp_bridge uses the same form with
// the bus subscription queue in place of the app id.
absl::StatusOr<std::vector<GorgApp>> ParseConsumeSpec(absl::string_view spec,
                                                      absl::string_view key = "amqp_consume");

}  // namespace switchboard::gateway::rabbitmq
