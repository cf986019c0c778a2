#pragma once
// The --server address of a switchboardd client, as the user wrote it, made
// into a gRPC target: a host without a port means switchboardd's default
// port (50051), where gRPC itself would silently dial 443.
//
//   localhost        -> localhost:50051
//   127.0.0.1        -> 127.0.0.1:50051
//   [::1]            -> [::1]:50051
//   host:123         -> host:123 (unchanged)
//   unix:/run/sb.sock, dns:///host:123, ipv4:..., any "scheme://..." -> unchanged
//
// Junk is INVALID_ARGUMENT with one line naming --server and what to write
// instead: "host:" (no port), "host:99999" (out of range), "::1" (an IPv6
// address needs brackets), " host" (a space).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::client {

inline constexpr int kDefaultPort = 50051;

absl::StatusOr<std::string> NormalizeServerAddress(absl::string_view server);

}  // namespace switchboard::client
