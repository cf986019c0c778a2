// The Beast server on its own: keep-alive, body limit (413), malformed
// requests (400), query and header parsing, answers from other threads.

#include "common/http/server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "absl/status/status.h"
#include "common/azure/http_client.h"
#include "tests/clients/subprocess.h"
#include "tests/core/test_support.h"
#include "tests/gateway/http_client.h"

namespace switchboard::httpserver {
namespace {

using switchboard::testing::HttpClient;

std::unique_ptr<HttpServer> StartEcho(size_t body_limit = 1024) {
  ServerOptions o;
  o.address = "127.0.0.1:0";
  o.body_limit = body_limit;
  o.worker_threads = 2;
  auto s = HttpServer::Start(o, [](Request req, Responder respond) {
    std::string out = req.method + " " + req.path + " sig=" + req.Query("sig") + " h=" + req.Header("x-test") +
                      " body=" + req.body;
    if (req.path == "/later") {
      // Answer from another thread after the handler returned.
      std::thread([respond, out] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        respond(Response::Text(202, out));
      }).detach();
      return;
    }
    respond(Response::Text(200, out));
  });
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  auto server = StartEcho();
  ASSERT_TRUE(server);
  HttpClient client(server->address());
  for (int i = 0; i < 5; ++i) {
    auto r = client.Post("/x?sig=a%2Bb&sig=second", "n=" + std::to_string(i), {{"X-Test", "v"}});
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "POST /x sig=a+b h=v body=n=" + std::to_string(i) + "\n");
    EXPECT_TRUE(r.keep_alive);
  }
  EXPECT_EQ(client.connections(), 1);
}

TEST(HttpServerTest, AnswersFromAnotherThread) {
  auto server = StartEcho();
  ASSERT_TRUE(server);
  HttpClient client(server->address());
  auto r = client.Get("/later");
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "GET /later sig= h= body=\n");
}

// A client's request on a thread of its own, so that the test can see
// whether an answer, or the connection's end, came in time.
std::shared_future<testing::HttpResult> GetAsync(const std::string& address, const std::string& target) {
  auto result = std::make_shared<std::promise<testing::HttpResult>>();
  std::shared_future<testing::HttpResult> answer = result->get_future().share();
  std::thread([result, address, target] {
    HttpClient client(address);
    result->set_value(client.Get(target));
  }).detach();
  return answer;
}

// A handler's Responder may outlive the server: the gateway's gRPC
// completions hold theirs until the call ends, which may be after shutdown.
// Stopping the server closes the connection waiting for that answer, and
// the late answer does nothing.
TEST(HttpServerTest, AnAnswerAfterTheServerStoppedIsDropped) {
  ServerOptions o;
  o.address = "127.0.0.1:0";
  auto kept = std::make_shared<std::promise<Responder>>();
  auto s = HttpServer::Start(o, [kept](Request, Responder respond) { kept->set_value(std::move(respond)); });
  ASSERT_TRUE(s.ok()) << s.status();
  std::unique_ptr<HttpServer> server = std::move(*s);
  auto answer = GetAsync(server->address(), "/kept");
  auto handed = kept->get_future();
  ASSERT_EQ(handed.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Responder respond = handed.get();
  server.reset();
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the connection awaiting an answer stayed open after the server stopped";
  EXPECT_EQ(answer.get().status, 0) << answer.get().body;
  respond(Response::Text(200, "too late"));
  respond = nullptr;
}

// A handler that drops its Responder unanswered closes the connection, and
// the server goes on serving.
TEST(HttpServerTest, AResponderDroppedUnansweredClosesTheConnection) {
  ServerOptions o;
  o.address = "127.0.0.1:0";
  auto s = HttpServer::Start(o, [](Request req, Responder respond) {
    if (req.path != "/dropped") respond(Response::Text(200, "ok"));
  });
  ASSERT_TRUE(s.ok()) << s.status();
  auto answer = GetAsync((*s)->address(), "/dropped");
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "a request whose Responder was dropped kept its connection open";
  EXPECT_EQ(answer.get().status, 0) << answer.get().body;
  HttpClient client((*s)->address());
  EXPECT_EQ(client.Get("/next").status, 200);
}

TEST(HttpServerTest, BodyOverTheLimitIs413) {
  auto server = StartEcho(/*body_limit=*/100);
  ASSERT_TRUE(server);
  HttpClient client(server->address());
  auto ok = client.Post("/x", std::string(100, 'a'));
  EXPECT_EQ(ok.status, 200);
  auto big = client.Post("/x", std::string(101, 'a'));
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("larger than 100 bytes"), std::string::npos) << big.body;
  EXPECT_FALSE(big.keep_alive);
  // The server is still fine afterwards.
  EXPECT_EQ(client.Get("/y").status, 200);
}

TEST(HttpServerTest, GarbageIs400AndServerSurvives) {
  auto server = StartEcho();
  ASSERT_TRUE(server);
  HttpClient client(server->address());
  std::string raw = client.Raw("NOT AN HTTP REQUEST\r\n\r\n");
  EXPECT_NE(raw.find("400"), std::string::npos) << raw;
  raw = client.Raw(std::string("GET / HTTP/1.1\r\nContent-Length: zz\r\n\r\n"));
  EXPECT_NE(raw.find("400"), std::string::npos) << raw;
  EXPECT_EQ(client.Get("/ok").status, 200);
}

TEST(HttpServerTest, BadAddressesAreRejected) {
  ServerOptions o;
  o.address = "nohost";
  EXPECT_EQ(HttpServer::Start(o, [](Request, Responder) {}).status().code(), absl::StatusCode::kInvalidArgument);
  o.address = "127.0.0.1:99999";
  EXPECT_EQ(HttpServer::Start(o, [](Request, Responder) {}).status().code(), absl::StatusCode::kInvalidArgument);
  o.address = "example.com:80";
  EXPECT_EQ(HttpServer::Start(o, [](Request, Responder) {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpServerTest, UrlDecoding) {
  EXPECT_EQ(UrlDecode("a%20b+c%zz%4", true), "a b c%zz%4");
  EXPECT_EQ(UrlDecode("a+b", false), "a+b");
  auto q = ParseQuery("a=1&&b=%3D&a=2&c");
  EXPECT_EQ(q["a"], "1");
  EXPECT_EQ(q["b"], "=");
  EXPECT_EQ(q.count("c"), 1u);
}


// HTTPS: the same server over TLS, verified by libcurl against the
// certificate as its CA; a plain-HTTP client gets no answer; files that do
// not load, or a key that is not the certificate's, are refused by name.

TEST(HttpServerTls, ServesHttpsVerifiedAgainstItsCa) {
  switchboard::testing::TempDir dir;
  auto made = switchboard::testing::MakeTestCertificate(dir.path());
  ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << made.result.err;
  ServerOptions o;
  o.address = "127.0.0.1:0";
  o.tls_cert_file = made.cert;
  o.tls_key_file = made.key;
  auto s = HttpServer::Start(o, [](Request req, Responder respond) {
    respond(Response::Text(200, req.method + " " + req.path + " body=" + req.body));
  });
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string port = (*s)->address().substr((*s)->address().rfind(':') + 1);
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    azure::HttpRequest r;
    r.method = "POST";
    r.url = "https://" + host + ":" + port + "/api/x";
    r.body = "hello";
    r.ca_file = made.cert;
    auto resp = azure::PerformHttp(r);
    ASSERT_TRUE(resp.ok()) << resp.status();
    EXPECT_EQ(resp->status, 200);
    EXPECT_EQ(resp->body, "POST /api/x body=hello\n");
  }
  // Without the CA the certificate is not trusted: no answer.
  azure::HttpRequest untrusted;
  untrusted.url = "https://127.0.0.1:" + port + "/";
  EXPECT_FALSE(azure::PerformHttp(untrusted).ok());
  // Plain HTTP to the TLS port: the handshake fails, nothing is served.
  azure::HttpRequest plain;
  plain.url = "http://127.0.0.1:" + port + "/";
  plain.timeout_ms = 5000;
  auto p = azure::PerformHttp(plain);
  EXPECT_TRUE(!p.ok() || p->status != 200);
}

TEST(HttpServerTls, RefusesFilesThatDoNotLoadNamingTheKey) {
  switchboard::testing::TempDir dir;
  auto a = switchboard::testing::MakeTestCertificate(dir.path());
  ASSERT_TRUE(a.made) << a.result.err;
  switchboard::testing::TempDir other;
  auto b = switchboard::testing::MakeTestCertificate(other.path());
  ASSERT_TRUE(b.made) << b.result.err;
  auto start = [](std::string cert, std::string key) {
    ServerOptions o;
    o.address = "127.0.0.1:0";
    o.tls_cert_file = std::move(cert);
    o.tls_key_file = std::move(key);
    return HttpServer::Start(o, [](Request, Responder respond) { respond(Response::Text(200, "")); });
  };
  auto missing = start(dir.path() + "/none.pem", a.key);
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
  EXPECT_NE(missing.status().message().find("http_tls_cert_file"), std::string::npos) << missing.status();
  auto not_a_key = start(a.cert, a.cert);
  EXPECT_NE(not_a_key.status().message().find("http_tls_key_file"), std::string::npos) << not_a_key.status();
  auto mismatch = start(a.cert, b.key);
  EXPECT_NE(mismatch.status().message().find("is not the key of"), std::string::npos) << mismatch.status();
  auto half = start(a.cert, "");
  EXPECT_NE(half.status().message().find("go together"), std::string::npos) << half.status();
}

}  // namespace
}  // namespace switchboard::httpserver
