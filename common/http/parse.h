#pragma once
// Parsing an HTTP/1.1 request from bytes, with Boost.Beast's parser and the
// limits every listener applies. The one HTTP server (common/http/server.h:
// the gateway's listener, switchboardd's admin and blob listener) reads
// from its sockets with the same parser set up the same way
// (common/http/beast_request.h): whole requests, or heads only for its
// streamed routes, whose bodies it reads piece by piece. The fuzz target
// tools/fuzz/http_request_fuzzer.cc feeds ParseRequest arbitrary bytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/http/request.h"

namespace switchboard::httpcore {

struct ParseLimits {
  std::size_t header_limit = 16 * 1024;
  std::size_t body_limit = 1024 * 1024;
  // Parse the head only; the body (if any) is left to the caller, who
  // streams it and applies its own limit (the blob listener's uploads):
  // body_limit is not used.
  bool head_only = false;
};

struct Parsed {
  enum class State {
    kIncomplete,  // more bytes are needed
    kComplete,    // `request` holds the request (head_only: without its body)
    kRefused,     // `status` and `error` say why
  };
  State state = State::kIncomplete;
  int status = 0;     // kRefused: 400, 413 or 431
  std::string error;  // kRefused: what is wrong, for the client
  Request request;
  std::size_t consumed = 0;  // bytes of the input the request took
  bool keep_alive = false;
  bool chunked = false;
  int64_t content_length = -1;  // -1 when the head gives none
};

Parsed ParseRequest(absl::string_view bytes, const ParseLimits& limits);

}  // namespace switchboard::httpcore
