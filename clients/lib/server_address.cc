#include "clients/lib/server_address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace switchboard::client {
namespace {

// gRPC target forms that are passed on as they are.
bool IsGrpcTarget(absl::string_view s) {
  if (absl::StrContains(s, "://")) return true;
  for (absl::string_view scheme : {"unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:", "vsock:", "xds:"}) {
    if (absl::StartsWith(s, scheme)) return true;
  }
  return false;
}

absl::Status Bad(absl::string_view server, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--server: '", server, "' ", what));
}

bool HostChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_'; }

}  // namespace

absl::StatusOr<std::string> NormalizeServerAddress(absl::string_view server) {
  if (server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server: must not be empty; write HOST or HOST:PORT (port ", kDefaultPort, " if omitted)"));
  }
  if (IsGrpcTarget(server)) return std::string(server);
  for (char c : server) {
    if (absl::ascii_isspace(c) || !absl::ascii_isprint(c)) {
      return Bad(server, "holds a space or control character; write HOST or HOST:PORT");
    }
  }
  absl::string_view host;
  absl::string_view port;  // empty when none was given
  bool has_port = false;
  if (server.front() == '[') {
    size_t close = server.find(']');
    if (close == absl::string_view::npos || close == 1) {
      return Bad(server, "is not a bracketed IPv6 address; write e.g. [::1] or [::1]:50051");
    }
    host = server.substr(0, close + 1);
    absl::string_view rest = server.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Bad(server, "has text after ']' that is not ':PORT'; write e.g. [::1]:50051");
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    size_t colon = server.find(':');
    if (colon != absl::string_view::npos && server.find(':', colon + 1) != absl::string_view::npos) {
      return Bad(server, absl::StrCat("looks like an IPv6 address, which needs brackets: [", server, "] or [",
                                      server, "]:PORT"));
    }
    host = server.substr(0, colon);
    if (colon != absl::string_view::npos) {
      has_port = true;
      port = server.substr(colon + 1);
    }
    if (host.empty()) return Bad(server, "has no host; write e.g. 127.0.0.1:PORT");
    for (char c : host) {
      if (!HostChar(c)) {
        return Bad(server, absl::StrCat("has '", std::string(1, c),
                                        "' in the host name; write HOST or HOST:PORT, or a gRPC target such as "
                                        "unix:/path"));
      }
    }
  }
  if (!has_port) return absl::StrCat(host, ":", kDefaultPort);
  if (port.empty()) {
    return Bad(server, absl::StrCat("has no port after ':'; write ", host, ":PORT, or ", host, " alone for port ",
                                    kDefaultPort));
  }
  int n = 0;
  bool digits = true;
  for (char c : port) digits = digits && absl::ascii_isdigit(c);
  if (!digits || !absl::SimpleAtoi(port, &n) || n < 1 || n > 65535) {
    return Bad(server, absl::StrCat("has port '", port, "'; a port is a number from 1 to 65535"));
  }
  return std::string(server);
}

}  // namespace switchboard::client
