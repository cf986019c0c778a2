#pragma once
// What every fuzz target shares: a check that aborts (libFuzzer then keeps
// the input as a crash), and the checks the decoders' outputs must pass.
// Plain C++: the same sources build with libFuzzer (clang, tools/fuzz.sh)
// and with the replay main of the normal build (tests/fuzz).

#include <google/protobuf/message.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#define SB_FUZZ_CHECK(cond, what)                                                              \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                 \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

namespace switchboard::fuzz {

inline absl::string_view Input(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// A decoder's error: the code it documents and a message to show.
inline void CheckError(const absl::Status& status, absl::StatusCode expected) {
  SB_FUZZ_CHECK(status.code() == expected, status.ToString());
  SB_FUZZ_CHECK(!status.message().empty(), "an error without a message");
}

// A decoded message must survive the wire: what a decoder hands to gRPC is
// serialized and parsed again by the server (UTF-8 strings, nesting depth).
inline void CheckWireRoundTrip(const google::protobuf::Message& message) {
  std::string bytes;
  SB_FUZZ_CHECK(message.SerializeToString(&bytes), message.GetTypeName());
  std::unique_ptr<google::protobuf::Message> again(message.New());
  SB_FUZZ_CHECK(again->ParseFromString(bytes), "the server could not parse " + message.GetTypeName());
}

// Decoding what an encoder wrote gives the message it was given.
inline void CheckSameMessage(const google::protobuf::Message& want, const google::protobuf::Message& got,
                             const std::string& encoded) {
  google::protobuf::util::MessageDifferencer d;
  std::string diff;
  d.ReportDifferencesToString(&diff);
  SB_FUZZ_CHECK(d.Compare(want, got), "encoding changed the message: " + diff + "encoded as " + encoded);
}

// `s` with bytes that are not printable ASCII as \xNN, for check messages.
inline std::string Printable(absl::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 300)) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace switchboard::fuzz
