// HTTP/1.1 requests as every listener parses them (common/http/parse.h:
// Boost.Beast's parser with Switchboard's limits). The gateway reads whole
// requests with its limits (16 KB head, 1 MB body); switchboardd's admin and
// blob listener read heads only and stream bodies. Beyond "no crash": a
// refusal is 400, 413 or 431 with a reason; a parsed request has a method,
// lower-case header names, a path that is its target's decoded path, and
// a body within the limit and as long as its Content-Length says; parsing
// only the bytes it took gives the same request; and the head the head-only
// parse took is the head the whole parse took (which adds a chunked body's
// trailer fields).

#include "absl/strings/ascii.h"
#include "common/http/parse.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;
using httpcore::ParseLimits;
using httpcore::Parsed;
using httpcore::ParseRequest;

namespace {

void CheckParsed(absl::string_view in, const ParseLimits& limits, const Parsed& p) {
  SB_FUZZ_CHECK(p.consumed <= in.size(), "took more bytes than it was given");
  if (p.state == Parsed::State::kRefused) {
    SB_FUZZ_CHECK(p.status == 400 || p.status == 413 || p.status == 431, std::to_string(p.status));
    SB_FUZZ_CHECK(!p.error.empty(), "a refusal without a reason");
    SB_FUZZ_CHECK(p.status != 413 || !limits.head_only, "a head-only parse refused a body");
    return;
  }
  if (p.state != Parsed::State::kComplete) return;
  const httpcore::Request& r = p.request;
  SB_FUZZ_CHECK(!r.method.empty(), "a request without a method");
  for (const auto& [name, value] : r.headers) {
    SB_FUZZ_CHECK(absl::AsciiStrToLower(name) == name, fuzz::Printable(name));
  }
  absl::string_view target = r.target;
  SB_FUZZ_CHECK(r.path == httpcore::UrlDecode(target.substr(0, target.find('?')), false), fuzz::Printable(r.target));
  if (limits.head_only) {
    SB_FUZZ_CHECK(r.body.empty(), "a head-only parse read a body");
  } else {
    SB_FUZZ_CHECK(r.body.size() <= limits.body_limit, "a body over the limit");
    if (p.content_length >= 0) {
      SB_FUZZ_CHECK(r.body.size() == static_cast<size_t>(p.content_length), "a body shorter than its length");
    }
  }
  // The bytes it took are a request on their own: the same one.
  Parsed again = ParseRequest(in.substr(0, p.consumed), limits);
  SB_FUZZ_CHECK(again.state == Parsed::State::kComplete, "its own bytes did not parse: " + again.error);
  SB_FUZZ_CHECK(again.consumed == p.consumed && again.request.target == r.target &&
                    again.request.headers == r.headers && again.request.body == r.body,
                "its own bytes parsed differently");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in = fuzz::Input(data, size);
  const ParseLimits gateway{16 * 1024, 1024 * 1024, false};
  const ParseLimits small{256, 64, false};
  const ParseLimits head_only{16 * 1024, 0, true};
  Parsed whole = ParseRequest(in, gateway);
  CheckParsed(in, gateway, whole);
  CheckParsed(in, small, ParseRequest(in, small));
  Parsed head = ParseRequest(in, head_only);
  CheckParsed(in, head_only, head);
  if (head.state == Parsed::State::kComplete && whole.state == Parsed::State::kComplete) {
    SB_FUZZ_CHECK(head.request.method == whole.request.method && head.request.target == whole.request.target,
                  "the head-only parse saw another request line");
    // The whole request may have more fields: a chunked body's trailer.
    for (const auto& [name, value] : head.request.headers) {
      auto it = whole.request.headers.find(name);
      SB_FUZZ_CHECK(it != whole.request.headers.end() && it->second == value,
                    "the head-only parse saw another header: " + fuzz::Printable(name));
    }
    SB_FUZZ_CHECK(head.consumed <= whole.consumed, "the head is longer than the request");
  }
  // A listener re-parses its buffer as bytes arrive: a complete request in
  // the first part stays the same once the rest has come.
  if (!in.empty()) {
    size_t cut = static_cast<unsigned char>(in[0]) * in.size() / 256;
    Parsed first = ParseRequest(in.substr(0, cut), gateway);
    if (first.state == Parsed::State::kComplete) {
      SB_FUZZ_CHECK(whole.state == Parsed::State::kComplete && whole.consumed == first.consumed,
                    "more bytes changed a complete request");
    }
  }
  // Pipelined requests: what follows the first is parsed the same way.
  if (whole.state == Parsed::State::kComplete && whole.consumed > 0 && whole.consumed < in.size()) {
    absl::string_view rest = in.substr(whole.consumed);
    CheckParsed(rest, gateway, ParseRequest(rest, gateway));
  }
  return 0;
}
