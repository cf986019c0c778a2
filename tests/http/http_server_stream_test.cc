// The HTTP server's streamed routes (common/http/server.h, StreamRoute;
// common/http/exchange.h): bodies read and answers written piece by piece,
// chunked uploads, HEAD, "Expect: 100-continue", keep-alive after a
// streamed request, refusing before the body is read, admission, and a
// client that stalls mid-body freeing its worker within io_timeout.

#include <sys/socket.h>
#include <sys/time.h>

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http/server.h"

namespace switchboard::httpserver {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// What the streamed handlers saw, for the tests to check.
struct Seen {
  std::mutex mu;
  std::string body;          // the last upload's bytes
  absl::Status read_status;  // the last upload's read error, if any
  int pieces = 0;            // ReadBody calls that returned bytes
};

// /up: reads the body 1000 bytes at a time and answers its length.
// /down?size=N: answers N bytes ('a' + i % 26) written 4096 at a time.
// /refuse: answers 413 without reading the body.
// Anything else is buffered and answered by the Handler.
std::unique_ptr<HttpServer> Start(Seen* seen, ServerOptions o = {}, std::uint64_t body_limit = 64 << 20,
                                  std::chrono::milliseconds io_timeout = std::chrono::seconds(5)) {
  o.address = "127.0.0.1:0";
  StreamRoute route;
  route.match = [](const Request& head) { return head.path != "/buffered"; };
  route.body_limit = body_limit;
  route.io_timeout = io_timeout;
  route.handler = [seen](Exchange& ex) {
    const Request& r = ex.request();
    if (r.path == "/up") {
      std::string body;
      char buf[1000];
      absl::Status status;
      int pieces = 0;
      while (true) {
        auto n = ex.ReadBody(buf, sizeof(buf));
        if (!n.ok()) {
          status = n.status();
          break;
        }
        if (*n == 0) break;
        ++pieces;
        body.append(buf, *n);
      }
      {
        std::lock_guard<std::mutex> l(seen->mu);
        seen->body = body;
        seen->read_status = status;
        seen->pieces = pieces;
      }
      if (!status.ok()) {
        ex.Respond(Response::Text(400, std::string(status.message())));
        return;
      }
      ex.Respond(Response::Text(200, absl::StrCat("got ", body.size())));
      return;
    }
    if (r.path == "/down") {
      int64_t size = 0;
      ASSERT_TRUE(absl::SimpleAtoi(r.Query("size"), &size));
      ASSERT_TRUE(ex.WriteHead(200, {{"Content-Type", "application/octet-stream"}}, size));
      std::string piece;
      for (int64_t at = 0; at < size;) {
        piece.clear();
        for (int i = 0; i < 4096 && at < size; ++i, ++at) piece.push_back(static_cast<char>('a' + at % 26));
        if (r.method != "HEAD") {
          ASSERT_TRUE(ex.WriteBody(piece));
        }
      }
      if (r.method != "HEAD") {
        EXPECT_FALSE(ex.WriteBody("x")) << "a piece past Content-Length must be refused";
      }
      return;
    }
    ex.Respond(Response::Text(413, "too large, and not read"));
  };
  o.streams.push_back(route);
  auto s = HttpServer::Start(o, [](Request req, Responder respond) {
    respond(Response::Text(200, absl::StrCat(req.method, " ", req.path, " body=", req.body)));
  });
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// One client connection, Beast's own parser on the reading side.
class Client {
 public:
  explicit Client(const std::string& address) : socket_(ioc_) {
    auto colon = address.rfind(':');
    tcp::resolver resolver(ioc_);
    asio::connect(socket_, resolver.resolve(address.substr(0, colon), address.substr(colon + 1)));
  }
  void Send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }
  bhttp::response<bhttp::string_body> Read(bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1u << 30);
    parser.skip(head);
    bhttp::read(socket_, buffer_, parser);
    return parser.release();
  }
  bhttp::response<bhttp::string_body> Request(const std::string& method, const std::string& target,
                                              const std::string& body = "") {
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
    req.set(bhttp::field::host, "test");
    req.body() = body;
    if (method != "GET" && method != "HEAD") req.prepare_payload();
    bhttp::write(socket_, req);
    return Read(method == "HEAD");
  }
  // True when the server closed the connection (reads EOF within a second).
  bool Closed() {
    socket_.non_blocking(false);
    timeval tv{1, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('0' + i % 10);
  return s;
}

TEST(HttpServerStream, ReadsABodyInPiecesAndKeepsTheConnection) {
  Seen seen;
  auto server = Start(&seen);
  ASSERT_TRUE(server);
  Client c(server->address());
  const std::string body = Pattern(3 << 20);
  auto r = c.Request("PUT", "/up", body);
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), absl::StrCat("got ", body.size(), "\n"));
  EXPECT_TRUE(r.keep_alive());
  {
    std::lock_guard<std::mutex> l(seen.mu);
    EXPECT_EQ(seen.body, body);
    EXPECT_GE(seen.pieces, static_cast<int>(body.size() / 1000));
  }
  // The same connection serves the next request, buffered or streamed.
  EXPECT_EQ(c.Request("POST", "/buffered", "x").body(), "POST /buffered body=x\n");
  EXPECT_EQ(c.Request("PUT", "/up", "abc").body(), "got 3\n");
}

TEST(HttpServerStream, ChunkedBodiesAreDecoded) {
  Seen seen;
  auto server = Start(&seen);
  ASSERT_TRUE(server);
  Client c(server->address());
  c.Send("PUT /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
  auto r = c.Read();
  EXPECT_EQ(r.body(), "got 7\n");
  std::lock_guard<std::mutex> l(seen.mu);
  EXPECT_EQ(seen.body, "abcdefg");
}

TEST(HttpServerStream, WritesAnAnswerInPiecesAndHeadGetsItsLengthOnly) {
  Seen seen;
  auto server = Start(&seen);
  ASSERT_TRUE(server);
  Client c(server->address());
  const int64_t size = 1000003;
  auto r = c.Request("GET", absl::StrCat("/down?size=", size));
  ASSERT_EQ(r.result_int(), 200);
  ASSERT_EQ(r.body().size(), static_cast<size_t>(size));
  EXPECT_EQ(r.body()[size - 1], static_cast<char>('a' + (size - 1) % 26));
  auto head = c.Request("HEAD", absl::StrCat("/down?size=", size));
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head[bhttp::field::content_length], std::to_string(size));
  // No body followed the HEAD answer: the next answer parses.
  EXPECT_EQ(c.Request("GET", "/down?size=5").body(), "abcde");
  // A buffered route's HEAD answer has no body either.
  auto buffered = c.Request("HEAD", "/buffered");
  EXPECT_EQ(buffered[bhttp::field::content_length], std::to_string(std::string("HEAD /buffered body=\n").size()));
  EXPECT_EQ(c.Request("GET", "/buffered").body(), "GET /buffered body=\n");
}

TEST(HttpServerStream, ExpectContinueIsAnsweredBeforeTheBodyIsRead) {
  Seen seen;
  auto server = Start(&seen);
  ASSERT_TRUE(server);
  for (const std::string path : {"/up", "/buffered"}) {
    Client c(server->address());
    c.Send("PUT " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    auto cont = c.Read();
    EXPECT_EQ(cont.result_int(), 100) << path;
    c.Send("hello");
    auto r = c.Read();
    EXPECT_EQ(r.result_int(), 200) << path;
    EXPECT_TRUE(r.body() == "got 5\n" || r.body() == "PUT /buffered body=hello\n") << r.body();
  }
}

TEST(HttpServerStream, AnAnswerBeforeTheBodyClosesTheConnection) {
  Seen seen;
  auto server = Start(&seen);
  ASSERT_TRUE(server);
  Client c(server->address());
  c.Send("PUT /refuse HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n" + std::string(1000, 'x'));
  auto r = c.Read();
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(c.Closed());
  Client again(server->address());
  EXPECT_EQ(again.Request("GET", "/down?size=3").body(), "abc");
}

TEST(HttpServerStream, BodiesPastTheRouteLimitAreNotRead) {
  Seen seen;
  auto server = Start(&seen, {}, /*body_limit=*/100);
  ASSERT_TRUE(server);
  Client c(server->address());
  auto r = c.Request("PUT", "/up", std::string(101, 'x'));
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_NE(r.body().find("larger than 100 bytes"), std::string::npos) << r.body();
  Client chunked(server->address());
  chunked.Send("PUT /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + std::string(100, 'y') +
               "\r\n1\r\nz\r\n0\r\n\r\n");
  auto rc = chunked.Read();
  EXPECT_EQ(rc.result_int(), 400);
  std::lock_guard<std::mutex> l(seen.mu);
  EXPECT_TRUE(absl::IsInvalidArgument(seen.read_status)) << seen.read_status;
}

TEST(HttpServerStream, AClientThatStallsMidBodyFreesItsWorker) {
  Seen seen;
  ServerOptions o;
  o.worker_threads = 1;
  auto server = Start(&seen, o, 64 << 20, std::chrono::milliseconds(300));
  ASSERT_TRUE(server);
  Client stalled(server->address());
  stalled.Send("PUT /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // The only worker is held by the stalled upload until its io_timeout.
  auto start = Clock::now();
  Client other(server->address());
  EXPECT_EQ(other.Request("GET", "/down?size=2").body(), "ab");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  std::lock_guard<std::mutex> l(seen.mu);
  EXPECT_EQ(seen.read_status.code(), absl::StatusCode::kDeadlineExceeded) << seen.read_status;
  EXPECT_EQ(seen.body, "abc");
}

TEST(HttpServerStream, AdmissionShedsStreamedRequestsToo) {
  Seen seen;
  ServerOptions o;
  o.queue_limit = 0;
  std::atomic<int> shed{0};
  o.on_shed = [&shed](const Request&, const std::string& why) {
    if (why == "queue_full") shed.fetch_add(1);
  };
  auto server = Start(&seen, o);
  ASSERT_TRUE(server);
  Client c(server->address());
  auto r = c.Request("PUT", "/up", "abc");
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_EQ(r[bhttp::field::retry_after], "1");
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(shed.load(), 1);
}

}  // namespace
}  // namespace switchboard::httpserver
