#include "common/http/parse.h"

#include <boost/asio/buffer.hpp>

#include "common/http/beast_request.h"

namespace switchboard::httpcore {
namespace bhttp = boost::beast::http;

namespace {

// Feeds `bytes` to `parser` until it is done, wants more, or fails.
template <class Parser>
void Feed(Parser& parser, absl::string_view bytes, const ParseLimits& limits, Parsed* out) {
  boost::beast::error_code ec;
  std::size_t used = 0;
  auto finished = [&] { return limits.head_only ? parser.is_header_done() : parser.is_done(); };
  while (!finished()) {
    std::size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == bhttp::error::need_more) {
      out->consumed = used;
      return;  // kIncomplete
    }
    if (ec) {
      out->state = Parsed::State::kRefused;
      out->status = RefusalStatus(ec);
      out->error = RefusalMessage(ec, limits);
      out->consumed = used;
      return;
    }
    if (n == 0 && !finished()) {
      out->consumed = used;
      return;  // nothing more to take from these bytes
    }
  }
  out->state = Parsed::State::kComplete;
  out->consumed = used;
  const auto& msg = parser.get();
  CopyHead(msg.base(), &out->request);
  out->keep_alive = msg.keep_alive();
  out->chunked = parser.chunked();
  if (auto length = parser.content_length(); length) out->content_length = static_cast<int64_t>(*length);
}

}  // namespace

Parsed ParseRequest(absl::string_view bytes, const ParseLimits& limits) {
  Parsed out;
  if (limits.head_only) {
    bhttp::request_parser<bhttp::empty_body> parser;
    ApplyLimits(parser, limits);
    parser.eager(false);
    Feed(parser, bytes, limits, &out);
  } else {
    bhttp::request_parser<bhttp::string_body> parser;
    ApplyLimits(parser, limits);
    parser.eager(true);
    Feed(parser, bytes, limits, &out);
    if (out.state == Parsed::State::kComplete) out.request.body = parser.get().body();
  }
  return out;
}

}  // namespace switchboard::httpcore
