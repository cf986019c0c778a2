// The gateway's RabbitMQ binding specs, amqp_consume and amqp_bridge
// (gateway/adapters/rabbitmq/consume_spec.h), read at start from the config.
// Beyond "no crash": an error is INVALID_ARGUMENT naming the key and stays
// short; what is read has names of [A-Za-z0-9_.-] whose queues fit AMQP's
// 255-byte names, and bindings of 1-255 bytes with no empty word; writing
// the apps back in the same form reads the same apps.

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/adapters/rabbitmq/consume_spec.h"
#include "gateway/adapters/rabbitmq/topology.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;
using gateway::rabbitmq::GorgApp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in = fuzz::Input(data, size);
  for (absl::string_view key : {"amqp_consume", "amqp_bridge"}) {
    auto apps = gateway::rabbitmq::ParseConsumeSpec(in, key);
    if (!apps.ok()) {
      fuzz::CheckError(apps.status(), absl::StatusCode::kInvalidArgument);
      SB_FUZZ_CHECK(absl::StartsWith(apps.status().message(), key), apps.status().ToString());
      SB_FUZZ_CHECK(apps.status().message().size() < 1024, "an error of " +
                                                               std::to_string(apps.status().message().size()) +
                                                               " bytes");
      continue;
    }
    std::vector<std::string> entries;
    for (const GorgApp& app : *apps) {
      SB_FUZZ_CHECK(!app.app_id.empty() && app.app_id.find_first_not_of(
                                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
                                               std::string::npos,
                    fuzz::Printable(app.app_id));
      for (const std::string& queue : {gateway::rabbitmq::JobQueue(app.app_id),
                                       gateway::rabbitmq::DeferredQueue(app.app_id),
                                       gateway::rabbitmq::DeadQueue(app.app_id)}) {
        SB_FUZZ_CHECK(queue.size() <= 255, "queue name of " + std::to_string(queue.size()) + " bytes");
      }
      SB_FUZZ_CHECK(!app.bindings.empty(), app.app_id);
      for (const std::string& b : app.bindings) {
        SB_FUZZ_CHECK(!b.empty() && b.size() <= 255, fuzz::Printable(b));
        SB_FUZZ_CHECK(!absl::StrContains(b, "..") && b.front() != '.' && b.back() != '.', fuzz::Printable(b));
      }
      entries.push_back(app.app_id + ":" + absl::StrJoin(app.bindings, "|"));
    }
    std::string written = absl::StrJoin(entries, ",");
    auto again = gateway::rabbitmq::ParseConsumeSpec(written, key);
    SB_FUZZ_CHECK(again.ok(), again.status().ToString() + " for " + fuzz::Printable(written));
    SB_FUZZ_CHECK(again->size() == apps->size(), fuzz::Printable(written));
    for (size_t i = 0; i < apps->size(); ++i) {
      SB_FUZZ_CHECK((*again)[i].app_id == (*apps)[i].app_id && (*again)[i].bindings == (*apps)[i].bindings,
                    fuzz::Printable(written));
    }
  }
  return 0;
}
