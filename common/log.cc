#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::mutex g_write_mu;

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void Redact(nlohmann::json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (IsSecretKey(it.key())) {
        it.value() = "[redacted]";
      } else {
        Redact(it.value());
      }
    }
  } else if (j.is_array()) {
    for (auto& v : j) Redact(v);
  }
}

}  // namespace

void SetMinLevel(Level level) { g_min_level.store(static_cast<int>(level)); }

bool ParseLevel(absl::string_view text, Level* out) {
  std::string t = absl::AsciiStrToLower(std::string(text));
  if (t == "debug") *out = Level::kDebug;
  else if (t == "info") *out = Level::kInfo;
  else if (t == "warn" || t == "warning") *out = Level::kWarn;
  else if (t == "error") *out = Level::kError;
  else return false;
  return true;
}

bool IsSecretKey(absl::string_view key) {
  std::string k = absl::AsciiStrToLower(std::string(key));
  for (const char* s : {"token", "secret", "password", "authorization", "credential"}) {
    if (absl::StrContains(k, s)) return true;
  }
  if (k == "sig" || k == "signature" || k == "key" || k == "aeg-sas-key") return true;
  // account_key, eventgrid_key...; but routing_key and key_name name things.
  return absl::EndsWith(k, "_key") && k != "routing_key";
}

void Write(Level level, absl::string_view msg, nlohmann::json fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
  line["msg"] = std::string(msg);
  if (fields.is_object()) {
    Redact(fields);
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = std::move(it.value());
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::lock_guard<std::mutex> lock(g_write_mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace switchboard::log
