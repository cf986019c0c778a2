#include "common/auth.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace switchboard {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader: return "reader";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
  }
  return "reader";
}

bool ParseRole(absl::string_view text, Role* out) {
  std::string t = absl::AsciiStrToLower(std::string(text));
  if (t == "reader") *out = Role::kReader;
  else if (t == "operator") *out = Role::kOperator;
  else if (t == "admin") *out = Role::kAdmin;
  else return false;
  return true;
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::unique_ptr<TokenAuthenticator> TokenAuthenticator::AllowLocal() {
  return std::unique_ptr<TokenAuthenticator>(new TokenAuthenticator());
}

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("token file '", path, "' cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto result = FromJson(ss.str());
  if (!result.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("token file '", path, "': ", result.status().message()));
  }
  return result;
}

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::FromJson(absl::string_view json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) {
    return absl::InvalidArgumentError(R"(expected a JSON object {"tokens": [{"token", "principal", "roles"}]})");
  }
  auto auth = std::unique_ptr<TokenAuthenticator>(new TokenAuthenticator());
  auth->requires_tokens_ = true;
  int i = 0;
  for (const auto& t : j["tokens"]) {
    std::string where = absl::StrCat("tokens[", i++, "]");
    if (!t.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, " must be an object"));
    Entry e;
    if (t.contains("token") && t["token"].is_string() && !t["token"].get<std::string>().empty()) {
      e.sha256 = Sha256Hex(t["token"].get<std::string>());
    } else if (t.contains("token_sha256") && t["token_sha256"].is_string() &&
               t["token_sha256"].get<std::string>().size() == 64) {
      e.sha256 = absl::AsciiStrToLower(t["token_sha256"].get<std::string>());
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " needs a non-empty \"token\" or a 64-hex-digit \"token_sha256\""));
    }
    if (!t.contains("principal") || !t["principal"].is_string() || t["principal"].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".principal must be a non-empty string"));
    }
    e.principal.name = t["principal"].get<std::string>();
    if (!t.contains("roles") || !t["roles"].is_array() || t["roles"].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".roles must list at least one of admin, operator, reader"));
    }
    for (const auto& r : t["roles"]) {
      Role role;
      if (!r.is_string() || !ParseRole(r.get<std::string>(), &role)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".roles has '", r.dump(), "'; use admin, operator or reader"));
      }
      if (role > e.principal.role) e.principal.role = role;
    }
    auth->entries_.push_back(std::move(e));
  }
  return auth;
}

absl::StatusOr<Principal> TokenAuthenticator::Authorize(std::optional<absl::string_view> authorization,
                                                        Role needed) const {
  if (!requires_tokens_) return Principal{"local-admin", Role::kAdmin, true};
  if (!authorization.has_value() || authorization->empty()) {
    return absl::UnauthenticatedError(
        "missing bearer token: send metadata 'authorization: Bearer <token>' (sbctl --token or SWITCHBOARD_TOKEN)");
  }
  absl::string_view value = *authorization;
  if (!absl::ConsumePrefix(&value, "Bearer ") && !absl::ConsumePrefix(&value, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must be 'Bearer <token>'");
  }
  std::string digest = Sha256Hex(value);
  const Entry* found = nullptr;
  for (const auto& e : entries_) {
    // Compare every entry so timing does not tell which one matched.
    if (ConstantTimeEquals(e.sha256, digest)) found = &e;
  }
  if (found == nullptr) return absl::UnauthenticatedError("unknown bearer token");
  if (found->principal.role < needed) {
    return absl::PermissionDeniedError(absl::StrCat("principal '", found->principal.name, "' has role ",
                                                    RoleName(found->principal.role), "; this call needs ",
                                                    RoleName(needed)));
  }
  return found->principal;
}

bool IsLoopbackAddress(absl::string_view address) {
  absl::string_view host = address;
  if (absl::ConsumePrefix(&host, "[")) {
    host = host.substr(0, host.find(']'));
  } else if (auto colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host.empty()) return false;
  // Resolve, then check every address: a name such as
  // "127.0.0.1.example.invalid" starts like a loopback address but is not
  // one. getaddrinfo parses a numeric host without a lookup; a name that
  // does not resolve is not loopback.
  std::string name(host);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) return false;
  bool all_loopback = true;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      all_loopback = all_loopback && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      all_loopback = all_loopback && IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    } else {
      all_loopback = false;
    }
  }
  freeaddrinfo(found);
  return all_loopback;
}

absl::Status TokenAuthenticator::CheckListenAddress(absl::string_view flag_name, absl::string_view address) const {
  if (requires_tokens_ || IsLoopbackAddress(address)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "--", flag_name, "=", address,
      " is not a loopback address; without --token_file the server trusts every caller as admin, "
      "so it only listens on 127.0.0.1 or [::1]. Give --token_file to listen elsewhere."));
}

}  // namespace switchboard
