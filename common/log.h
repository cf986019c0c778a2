#pragma once
// Structured logging: one JSON object per line on stderr, with "ts", "level",
// "msg" and caller-supplied fields. Fields whose key names a secret (token,
// secret, key, password, sig, authorization) are written as "[redacted]", so a
// careless call site cannot leak one.

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace switchboard::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Lines below this level are dropped. Default kInfo.
void SetMinLevel(Level level);
// Parses "debug", "info", "warn", "error"; false if unknown.
bool ParseLevel(absl::string_view text, Level* out);

void Write(Level level, absl::string_view msg, nlohmann::json fields = nlohmann::json::object());

inline void Debug(absl::string_view msg, nlohmann::json f = nlohmann::json::object()) { Write(Level::kDebug, msg, std::move(f)); }
inline void Info(absl::string_view msg, nlohmann::json f = nlohmann::json::object()) { Write(Level::kInfo, msg, std::move(f)); }
inline void Warn(absl::string_view msg, nlohmann::json f = nlohmann::json::object()) { Write(Level::kWarn, msg, std::move(f)); }
inline void Error(absl::string_view msg, nlohmann::json f = nlohmann::json::object()) { Write(Level::kError, msg, std::move(f)); }

// True if a field with this key is redacted.
bool IsSecretKey(absl::string_view key);

}  // namespace switchboard::log
