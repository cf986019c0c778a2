// Request parsing shared by every listener (common/http/parse.h, Boost.Beast),
// the blob listener's reading of a head (server/http/blob_request.h), and the
// admin listener's answers to heads that do not parse, over a real socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <variant>

#include "absl/strings/match.h"
#include "common/azure/http_client.h"
#include "common/http/parse.h"
#include "common/http/tls.h"
#include "gtest/gtest.h"
#include "server/http/admin_http.h"
#include "server/http/blob_request.h"
#include "tests/clients/subprocess.h"
#include "tests/core/test_support.h"

namespace switchboard::httpcore {
namespace {

using State = Parsed::State;

TEST(HttpParse, ParsesMethodTargetDecodedPathQueryAndLowerCasedHeaders) {
  Parsed p = ParseRequest(
      "GET /a%20b/c?x=1&y=%3D&x=2 HTTP/1.1\r\nHost: h\r\nX-Thing: one\r\nx-thing: two\r\n\r\n", ParseLimits{});
  ASSERT_EQ(p.state, State::kComplete) << p.error;
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.target, "/a%20b/c?x=1&y=%3D&x=2");
  EXPECT_EQ(p.request.path, "/a b/c");
  EXPECT_EQ(p.request.Query("x"), "1");
  EXPECT_EQ(p.request.Query("y"), "=");
  EXPECT_EQ(p.request.Header("x-thing"), "one");
  EXPECT_EQ(p.request.Header("host"), "h");
  EXPECT_TRUE(p.keep_alive);
}

TEST(HttpParse, IncompleteUntilTheBlankLineAndTheWholeBody) {
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: h\r\n", ParseLimits{}).state, State::kIncomplete);
  std::string post = "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
  EXPECT_EQ(ParseRequest(post, ParseLimits{}).state, State::kIncomplete);
  Parsed p = ParseRequest(post + "cde", ParseLimits{});
  ASSERT_EQ(p.state, State::kComplete) << p.error;
  EXPECT_EQ(p.request.body, "abcde");
  EXPECT_EQ(p.consumed, post.size() + 3);
  EXPECT_EQ(p.content_length, 5);
}

TEST(HttpParse, ChunkedBodiesAreJoined) {
  Parsed p = ParseRequest("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                          ParseLimits{});
  ASSERT_EQ(p.state, State::kComplete) << p.error;
  EXPECT_TRUE(p.chunked);
  EXPECT_EQ(p.request.body, "abcde");
}

TEST(HttpParse, HeadOnlyStopsAtTheBlankLineAndLeavesTheBody) {
  std::string head = "PUT /acct/c/b HTTP/1.1\r\nContent-Length: 10\r\n\r\n";
  Parsed p = ParseRequest(head + "0123", ParseLimits{16 * 1024, 0, true});
  ASSERT_EQ(p.state, State::kComplete) << p.error;
  EXPECT_EQ(p.consumed, head.size());
  EXPECT_EQ(p.content_length, 10);
  EXPECT_TRUE(p.request.body.empty());
}

TEST(HttpParse, RefusesMalformedHeadsAndWhatIsOverTheLimits) {
  Parsed bad = ParseRequest("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", ParseLimits{});
  EXPECT_EQ(bad.state, State::kRefused);
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(absl::StartsWith(bad.error, "malformed HTTP request")) << bad.error;
  EXPECT_EQ(ParseRequest("\x01\x02 garbage\r\n\r\n", ParseLimits{}).status, 400);
  Parsed big_head = ParseRequest("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", {1024, 1024, false});
  EXPECT_EQ(big_head.state, State::kRefused);
  EXPECT_EQ(big_head.status, 431);
  EXPECT_EQ(big_head.error, "request headers larger than 1024 bytes");
  // Over the limit before the blank line ever comes: refused, not waited for.
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a'), {1024, 1024, false}).status, 431);
  Parsed big_body = ParseRequest("POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", {1024, 1024, false});
  EXPECT_EQ(big_body.state, State::kRefused);
  EXPECT_EQ(big_body.status, 413);
}

}  // namespace
}  // namespace switchboard::httpcore

namespace switchboard::http {
namespace {

httpcore::Request Head(const std::string& method, const std::string& target, const std::string& headers = "") {
  auto p = httpcore::ParseRequest(method + " " + target + " HTTP/1.1\r\n" + headers + "\r\n", {16 * 1024, 0, true});
  EXPECT_EQ(p.state, httpcore::Parsed::State::kComplete) << p.error;
  return p.request;
}

TEST(BlobRequest, ClassifiesReadsPutsAndListings) {
  auto read = ClassifyBlobRequest(Head("GET", "/acct/media/dir/a%20b.mp4?sv=x"));
  ASSERT_TRUE(std::holds_alternative<BlobCall>(read));
  EXPECT_EQ(std::get<BlobCall>(read).ref.name, "dir/a b.mp4");
  EXPECT_EQ(std::get<BlobCall>(read).permission, 'r');
  auto head = ClassifyBlobRequest(Head("HEAD", "/acct/media/a"));
  ASSERT_TRUE(std::holds_alternative<BlobCall>(head));
  EXPECT_TRUE(std::get<BlobCall>(head).head_only);
  auto put = ClassifyBlobRequest(Head("PUT", "/acct/media/a", "x-ms-blob-type: BlockBlob\r\nContent-Length: 0\r\n"));
  ASSERT_TRUE(std::holds_alternative<BlobCall>(put));
  EXPECT_EQ(std::get<BlobCall>(put).op, BlobCall::Op::kPut);
  EXPECT_EQ(std::get<BlobCall>(put).permission, 'w');
  auto list = ClassifyBlobRequest(Head("GET", "/acct/media?restype=container&comp=list"));
  ASSERT_TRUE(std::holds_alternative<BlobCall>(list));
  EXPECT_EQ(std::get<BlobCall>(list).op, BlobCall::Op::kList);
  EXPECT_EQ(std::get<BlobCall>(list).permission, 'l');
}

TEST(BlobRequest, RefusesInAzureTerms) {
  auto bad_container = ClassifyBlobRequest(Head("GET", "/acct/No_Such!/a"));
  ASSERT_TRUE(std::holds_alternative<BlobRefusal>(bad_container));
  EXPECT_EQ(std::get<BlobRefusal>(bad_container).code, "InvalidResourceName");
  auto verb = ClassifyBlobRequest(Head("POST", "/acct/media/a"));
  ASSERT_TRUE(std::holds_alternative<BlobRefusal>(verb));
  EXPECT_EQ(std::get<BlobRefusal>(verb).status, 405);
  auto container_get = ClassifyBlobRequest(Head("GET", "/acct/media"));
  ASSERT_TRUE(std::holds_alternative<BlobRefusal>(container_get));
  EXPECT_EQ(std::get<BlobRefusal>(container_get).status, 400);
}

TEST(BlobRequest, RangesStayInsideTheBlobWithoutOverflow) {
  int64_t start = -1, end = -1;
  EXPECT_TRUE(ParseRange("bytes=10-19", 1000, &start, &end));
  EXPECT_EQ(start, 10);
  EXPECT_EQ(end, 20);
  EXPECT_TRUE(ParseRange("bytes=-5", 1000, &start, &end));
  EXPECT_EQ(start, 995);
  EXPECT_TRUE(ParseRange("bytes=5-9223372036854775807", 1000, &start, &end));
  EXPECT_EQ(end, 1000);
  EXPECT_FALSE(ParseRange("bytes=5000-", 1000, &start, &end));
  EXPECT_FALSE(ParseRange("bytes=1-2,4-5", 1000, &start, &end));
  EXPECT_FALSE(ParseRange("items=1-2", 1000, &start, &end));
}

// Sends `request` to the listener, half-closes, and returns all it answered.
std::string Exchange(const std::string& address, const std::string& request) {
  auto colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(AdminHttp, AnswersHeadsThatDoNotParseAndServesThoseThatDo) {
  auto server = AdminHttpServer::Start("127.0.0.1:0", [](const std::string& method, const std::string& path) {
    return Response{200, "text/plain; charset=utf-8", method + " " + path + "\n"};
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string& addr = (*server)->address();
  EXPECT_TRUE(absl::StartsWith(Exchange(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), "HTTP/1.1 200"));
  EXPECT_TRUE(absl::StrContains(Exchange(addr, "GET /healthz?a=1 HTTP/1.1\r\n\r\n"), "GET /healthz?a=1"));
  std::string bad = Exchange(addr, "GET /healthz HTTP/1.1\r\nbroken header\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(bad, "HTTP/1.1 400")) << bad;
  EXPECT_TRUE(absl::StrContains(bad, "malformed HTTP request")) << bad;
  std::string huge = Exchange(addr, "GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(huge, "HTTP/1.1 431")) << huge.substr(0, 200);
  std::string cut = Exchange(addr, "GET / HTTP/1.1\r\nHost");
  EXPECT_TRUE(absl::StartsWith(cut, "HTTP/1.1 400")) << cut;
  EXPECT_TRUE(absl::StrContains(cut, "incomplete HTTP request head")) << cut;
  EXPECT_EQ(Exchange(addr, ""), "");
}

TEST(AdminHttp, ServesHttpsWithTheGivenCertificate) {
  testing::TempDir dir;
  auto made = testing::MakeTestCertificate(dir.path());
  ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << made.result.err;
  auto tls = httpserver::TlsContext::Load(made.cert, made.key, "http_tls_cert_file", "http_tls_key_file");
  ASSERT_TRUE(tls.ok()) << tls.status();
  auto server = AdminHttpServer::Start(
      "127.0.0.1:0",
      [](const std::string& method, const std::string& path) {
        return Response{200, "text/plain; charset=utf-8", method + " " + path + "\n"};
      },
      nullptr, *tls);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string port = (*server)->address().substr((*server)->address().rfind(':') + 1);
  azure::HttpRequest r;
  r.url = "https://localhost:" + port + "/healthz";
  r.ca_file = made.cert;
  auto resp = azure::PerformHttp(r);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "GET /healthz\n");
  // Plain HTTP to the TLS listener: no answer, and the listener goes on.
  std::string plain = Exchange((*server)->address(), "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(plain.find("200"), std::string::npos) << plain;
  resp = azure::PerformHttp(r);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 200);
}

TEST(AdminHttp, TlsFilesThatDoNotLoadAreRefusedByKey) {
  testing::TempDir a_dir, b_dir;
  auto a = testing::MakeTestCertificate(a_dir.path());
  auto b = testing::MakeTestCertificate(b_dir.path());
  ASSERT_TRUE(a.made && b.made) << a.result.err << b.result.err;
  auto missing = httpserver::TlsContext::Load(a_dir.path() + "/none.pem", a.key, "tls_cert_file", "tls_key_file");
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
  EXPECT_TRUE(absl::StartsWith(missing.status().message(), "tls_cert_file '")) << missing.status();
  auto mismatch = httpserver::TlsContext::Load(a.cert, b.key, "http_tls_cert_file", "http_tls_key_file");
  EXPECT_TRUE(absl::StrContains(mismatch.status().message(), "is not the key of http_tls_cert_file"))
      << mismatch.status();
}

}  // namespace
}  // namespace switchboard::http
