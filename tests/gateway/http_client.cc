#include "tests/gateway/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>

namespace switchboard::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct HttpClient::Conn {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool open = false;
};

HttpClient::HttpClient(std::string address) : address_(std::move(address)), conn_(std::make_unique<Conn>()) {}
HttpClient::~HttpClient() = default;

namespace {
bool Connect(const std::string& address, beast::tcp_stream& stream, std::string* error) {
  size_t colon = address.rfind(':');
  tcp::resolver resolver(stream.get_executor());
  beast::error_code ec;
  auto results = resolver.resolve(address.substr(0, colon), address.substr(colon + 1), ec);
  if (!ec) stream.connect(results, ec);
  if (ec) {
    *error = ec.message();
    return false;
  }
  return true;
}
}  // namespace

HttpResult HttpClient::Request(const std::string& method, const std::string& target, const std::string& body,
                               const std::map<std::string, std::string>& headers) {
  HttpResult result;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn_->open) {
      conn_ = std::make_unique<Conn>();
      if (!Connect(address_, conn_->stream, &result.error)) return result;
      conn_->open = true;
      ++connections_;
    }
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
    req.set(bhttp::field::host, address_);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);
    conn_->stream.expires_after(std::chrono::seconds(60));
    beast::error_code ec;
    bhttp::write(conn_->stream, req, ec);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    // A server may answer (413, 400) and stop reading before the whole body
    // went out; like curl, still read its answer when the write failed.
    beast::error_code write_ec = ec;
    bhttp::read(conn_->stream, conn_->buffer, parser, ec);
    if (ec && write_ec) ec = write_ec;
    if (ec) {
      conn_->open = false;
      result.error = ec.message();
      // A kept-alive connection the server closed meanwhile: retry once on a fresh one.
      if (attempt == 0 && (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
                           ec == asio::error::broken_pipe)) {
        continue;
      }
      return result;
    }
    auto res = parser.release();
    result.status = res.result_int();
    result.body = res.body();
    result.keep_alive = res.keep_alive();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      result.headers[name] = std::string(f.value());
    }
    if (!res.keep_alive()) conn_->open = false;
    result.error.clear();
    return result;
  }
  return result;
}

std::string HttpClient::Raw(const std::string& bytes) {
  Conn c;
  std::string error;
  if (!Connect(address_, c.stream, &error)) return "";
  beast::error_code ec;
  asio::write(c.stream.socket(), asio::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  for (;;) {
    size_t n = c.stream.socket().read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

}  // namespace switchboard::testing
