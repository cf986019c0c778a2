#pragma once
// Azure Storage SharedKey authorization (Blob, Queue and Table services
// share it): the string-to-sign and the Authorization header.
// https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::azure {

struct SignableRequest {
  std::string method;  // "GET", "PUT", ...
  // The URL path as sent, percent-encoded, starting with '/'. For
  // path-style endpoints (Azurite: /devstoreaccount1/...) it includes the
  // account segment.
  std::string path;
  // Decoded query parameters.
  std::map<std::string, std::string> query;
  // Header names in any case; x-ms-* and the standard ones are used.
  std::map<std::string, std::string> headers;
  // Content-Length; 0 is signed as empty (versions since 2015-02-21).
  int64_t content_length = 0;
};

// The exact string SharedKey signs for `account`.
std::string SharedKeyStringToSign(absl::string_view account, const SignableRequest& request);
// "SharedKey <account>:<signature>".
absl::StatusOr<std::string> SharedKeyAuthorization(absl::string_view account, absl::string_view key_b64,
                                                   const SignableRequest& request);

}  // namespace switchboard::azure
