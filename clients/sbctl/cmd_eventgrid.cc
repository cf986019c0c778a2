// sbctl eventgrid listen: a local Event Grid topic. switchboard-gateway's
// publisher POSTs response events to it (eventgrid_topic_url), and it prints
// each one, so the whole path can be watched on one machine.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "clients/lib/webhook_receiver.h"
#include "clients/sbctl/command.h"
#include "clients/sbctl/input.h"

namespace switchboard::sbctl {
namespace {

using nlohmann::json;

std::string Text(const json& event, const char* key) {
  auto it = event.find(key);
  return it != event.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int RunListen(Invocation& inv) {
  long long port = inv.cli().GetInt("port");
  long long count = inv.cli().GetInt("count");
  if (port < 0 || port > 65535) return inv.UsageError(absl::StrCat("--port must be 0 to 65535, got ", port));
  if (count < 0) return inv.UsageError("--count must not be negative");
  auto read = SecretFromFlags(inv.cli().GetString("key"), "key_file", inv.cli().GetString("key_file"));
  if (!read.ok()) return inv.LocalError(read.status());
  const std::string key = *read;
  std::mutex mu;
  std::atomic<long long> events{0};
  auto handler = [&](const client::WebhookReceiver::Request& req) {
    client::WebhookReceiver::Reply reply;
    auto header = req.headers.find("aeg-sas-key");
    std::lock_guard<std::mutex> lock(mu);
    if (!key.empty() && (header == req.headers.end() || header->second != key)) {
      reply.status = 401;
      inv.out() << "REJECTED: a POST without the topic key (aeg-sas-key) -> 401\n";
      inv.out().flush();
      return reply;
    }
    json batch = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!batch.is_array()) {
      reply.status = 400;
      inv.out() << "REJECTED: the body is not a JSON array of events -> 400\n";
      inv.out().flush();
      return reply;
    }
    for (const json& e : batch) {
      long long n = ++events;
      std::string context = e.contains("data") && e["data"].is_object() && e["data"].contains("operationContext")
                                ? e["data"]["operationContext"].dump()
                                : "-";
      inv.out() << "#" << n << "  " << Text(e, "eventType") << "  " << Text(e, "subject") << "  operationContext "
                << context << "\n";
      if (inv.json()) inv.out() << e.dump() << "\n";
    }
    inv.out().flush();
    return reply;
  };
  auto receiver = client::WebhookReceiver::Listen(handler, static_cast<int>(port));
  if (!receiver.ok()) {
    return inv.Fail(absl::StrCat(receiver.status().message(), " (pick another --port, or 0 for a free one)"));
  }
  inv.Note(absl::StrCat("Event Grid topic listening on http://127.0.0.1:", (*receiver)->port(), "/api/events",
                        "; point the gateway's eventgrid_topic_url at it"));
  while (count == 0 || events < count) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (*receiver)->Stop();
  return kExitOk;
}

}  // namespace

void RegisterEventGridCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "eventgrid listen",
      .args = "",
      .summary = "Play the Event Grid topic: print each response event the gateway publishes.",
      .details = "Listens on 127.0.0.1 (--port, 0 = a free port; the URL is printed on stderr) and answers\n"
                 "every POSTed array of events 200, printing one line per event (eventType, subject,\n"
                 "operationContext; --json also prints the event). With the topic key (--key_file or\n"
                 "SWITCHBOARD_EVENTGRID_TOPIC_KEY) a POST without that aeg-sas-key is answered 401.\n"
                 "tools/run.sh points the gateway at http://127.0.0.1:9100/api/events (README, \"Try it\").\n"
                 "Runs until interrupted, or until --count events were received.",
      .min_args = 0,
      .max_args = 0,
      .flags =
          [](Cli& cli) {
            cli.AddInt("port", 9100, "Port on 127.0.0.1 (0 = a free port).");
            cli.AddString("key_file", "", "File holding the topic key the gateway sends (eventgrid_topic_key).");
            cli.AddString("key", "", "The topic key (from the environment only).", "SWITCHBOARD_EVENTGRID_TOPIC_KEY");
            cli.AddInt("count", 0, "Exit after this many events (0 = run until interrupted).");
          },
      .run = RunListen,
  });
}

}  // namespace switchboard::sbctl
