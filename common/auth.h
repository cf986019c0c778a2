#pragma once
// Bearer-token authentication and role checks, shared by the server and the
// gateway. Transport-free: callers pass the `authorization` metadata value.
//
// Token file (JSON):
//   {"tokens": [{"token": "s3cret", "principal": "ci-bot", "roles": ["operator"]},
//               {"token_sha256": "<hex>", "principal": "alice", "roles": ["admin"]}]}
// Roles are ordered: admin > operator > reader; a higher role may do
// everything a lower one may.

#include "absl/strings/string_view.h"
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace switchboard {

enum class Role { kReader = 0, kOperator = 1, kAdmin = 2 };

const char* RoleName(Role role);
bool ParseRole(absl::string_view text, Role* out);

struct Principal {
  std::string name;
  Role role = Role::kReader;
  // True for the unauthenticated local admin of a token-less server.
  bool local = false;
};

class TokenAuthenticator {
 public:
  // No token file: every caller is the local admin. The server must then
  // listen on loopback only (see CheckListenAddress).
  static std::unique_ptr<TokenAuthenticator> AllowLocal();
  // Loads a token file; INVALID_ARGUMENT names the bad entry.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromJson(absl::string_view json_text);

  bool requires_tokens() const { return requires_tokens_; }

  // `authorization` is the raw metadata value ("Bearer <token>"), or nullopt
  // when absent. UNAUTHENTICATED for a missing or unknown token,
  // PERMISSION_DENIED when the principal's role is below `needed`.
  absl::StatusOr<Principal> Authorize(std::optional<absl::string_view> authorization, Role needed) const;

  // FAILED_PRECONDITION if `address` ("host:port") is not loopback while no
  // token file is configured.
  absl::Status CheckListenAddress(absl::string_view flag_name, absl::string_view address) const;

 private:
  struct Entry {
    std::string sha256;  // hex digest of the token
    Principal principal;
  };
  bool requires_tokens_ = false;
  std::vector<Entry> entries_;
};

// True when the host of "host:port" (or "[v6]:port") resolves, and every
// address it resolves to is loopback (127.0.0.0/8, ::1): "localhost" usually,
// "127.0.0.1.example.invalid" not. Names are resolved (getaddrinfo), so this
// may block on DNS: call it at start-up, not per request.
bool IsLoopbackAddress(absl::string_view address);

// Hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// Constant-time equality for secrets.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace switchboard
