// The one HTTP client (common/http/client.h) against an in-process loopback
// server (the gateway's Beast server, over HTTP and HTTPS): status, headers
// and body round trips, streamed uploads and downloads, timeouts, TLS
// verification, connection reuse, and URLs whose query (a SAS token) never
// reaches an error.

#include "common/http/client.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/clients/subprocess.h"
#include "tests/http/loopback_server.h"

namespace switchboard::httpclient {
namespace {

std::string Expected(size_t n, char first) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(first + i % 26);
  return out;
}

TEST(HttpClient, StatusHeadersAndBodyRoundTrip) {
  auto server = Start();
  ASSERT_TRUE(server);
  Client client;
  Request req;
  req.method = "POST";
  req.url = Url(*server, "/echo");
  req.headers = {{"Content-Type", "application/json"}, {"X-Empty", ""}};
  const std::string body = "{\"a\":1}";
  req.body = body;
  auto r = client.Perform(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // No "Expect: 100-continue"; an empty header is sent as empty, not dropped.
  EXPECT_EQ(r->body, "POST /echo ct=application/json expect= empty=1 body={\"a\":1}\n");
  EXPECT_EQ(r->Header("x-echo"), "yes");
  EXPECT_EQ(r->Header("X-ECHO"), "yes");
  EXPECT_EQ(r->Header("x-absent"), "");

  // Without a Content-Type none is sent (curl would add a form type).
  Request plain;
  plain.method = "PUT";
  plain.url = Url(*server, "/echo");
  plain.body = "x=1";
  r = client.Perform(plain);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "PUT /echo ct= expect= empty=0 body=x=1\n");

  // Error statuses are answers, with their bodies.
  Request missing;
  missing.url = Url(*server, "/nothing");
  r = client.Perform(missing);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "no such path\n");

  // HEAD: the status and headers, no body.
  Request head;
  head.method = "HEAD";
  head.url = Url(*server, "/echo");
  r = client.Perform(head);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
}

TEST(HttpClient, StreamsARequestBodyFromASource) {
  auto server = Start();
  ASSERT_TRUE(server);
  const std::string data = Expected(3 << 20, 'a');  // 3 MB, many reads
  for (int64_t declared : {static_cast<int64_t>(data.size()), int64_t{-1}}) {
    size_t at = 0;
    int reads = 0;
    Request req;
    req.method = "PUT";
    req.url = Url(*server, "/size");
    req.body_size = declared;  // -1: sent chunked, until the source says 0
    req.body_source = [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
      size_t n = std::min(cap, data.size() - at);
      std::memcpy(buf, data.data() + at, n);
      at += n;
      ++reads;
      return n;
    };
    auto r = Client().Perform(req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, std::to_string(data.size()) + "\n") << "declared " << declared;
    EXPECT_GT(reads, 2);
  }
}

TEST(HttpClient, ASourceThatFailsOrEndsEarlyFailsTheCall) {
  auto server = Start();
  ASSERT_TRUE(server);
  Request req;
  req.method = "PUT";
  req.url = Url(*server, "/size");
  req.body_size = 100;
  req.body_source = [](char*, size_t) -> absl::StatusOr<size_t> {
    return absl::DataLossError("the file went away");
  };
  auto r = Client().Perform(req);
  EXPECT_EQ(r.status(), absl::DataLossError("the file went away"));

  req.body_source = [sent = false](char* buf, size_t) mutable -> absl::StatusOr<size_t> {
    if (sent) return 0;
    sent = true;
    buf[0] = 'x';
    return 1;
  };
  r = Client().Perform(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "the body ended after 1 of 100 bytes");
}

TEST(HttpClient, StreamsA2xxBodyToASinkAndKeepsOthersUpToALimit) {
  auto server = Start();
  ASSERT_TRUE(server);
  Client client;
  std::string got;
  int pieces = 0;
  Request req;
  req.url = Url(*server, "/big?n=2000000");
  req.sink = [&](absl::string_view piece) {
    got.append(piece.data(), piece.size());
    ++pieces;
    return true;
  };
  auto r = client.Perform(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(got.size(), 2000001u);
  EXPECT_TRUE(got == Expected(2000000, 'a') + "\n");  // Response::Text ends with a newline

  // A sink that says stop ends the transfer; the answer still comes back.
  size_t taken = 0;
  req.sink = [&](absl::string_view piece) {
    taken += piece.size();
    return false;
  };
  r = client.Perform(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(taken, 2000000u);

  // A non-2xx body is not the sink's: it is kept, up to max_body.
  got.clear();
  req.url = Url(*server, "/fail?n=5000");
  req.sink = [&](absl::string_view piece) {
    got.append(piece.data(), piece.size());
    return true;
  };
  req.max_body = 1000;
  r = client.Perform(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(got, "");
  EXPECT_TRUE(r->body == Expected(1000, 'A'));
  EXPECT_TRUE(r->body_truncated);
}

TEST(HttpClient, ReusesItsConnectionAcrossCalls) {
  auto server = Start();
  ASSERT_TRUE(server);
  Client client;
  std::set<std::string> peers;
  for (int i = 0; i < 5; ++i) {
    Request req;
    req.url = Url(*server, "/peer");
    auto r = client.Perform(req);
    ASSERT_TRUE(r.ok()) << r.status();
    peers.insert(r->body);
  }
  EXPECT_EQ(peers.size(), 1u);
}

TEST(HttpClient, ManyThreadsShareOneClient) {
  auto server = Start();
  ASSERT_TRUE(server);
  Client client(/*max_idle=*/2);  // fewer than the threads: some handles are made and dropped
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        Request req;
        req.method = "POST";
        req.url = Url(*server, "/echo");
        const std::string body = absl::StrCat(t, "-", i);
        req.body = body;
        auto r = client.Perform(req);
        if (r.ok() && r->body == absl::StrCat("POST /echo ct= expect= empty=0 body=", body, "\n")) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 120);
}

TEST(HttpClient, TimesOutAndSaysSo) {
  auto server = Start();
  ASSERT_TRUE(server);
  Request req;
  req.url = Url(*server, "/slow?sv=2022-11-02&sig=SECRETSIGNATURE");
  req.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  auto r = Client().Perform(req);
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(took, absl::Milliseconds(900));
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("GET " + Url(*server, "/slow") + ": "), std::string::npos) << msg;
  EXPECT_NE(msg.find("imeout"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("sv="), std::string::npos) << msg;
}

TEST(HttpClient, ARefusedConnectionNamesTheUrlWithoutItsQuery) {
  // A port that was free a moment ago: nothing listens there now.
  std::string url;
  {
    auto server = Start();
    ASSERT_TRUE(server);
    url = Url(*server, "/c/b");
  }
  Request req;
  req.method = "PUT";
  req.url = url + "?sv=2022-11-02&se=2030-01-01&sp=rw&sig=SECRET%2BSIGNATURE%3D";
  req.connect_timeout = absl::Seconds(2);
  auto r = Client().Perform(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  const std::string msg(r.status().message());
  EXPECT_EQ(msg.rfind("PUT " + url + ": ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('?'), std::string::npos) << msg;
}

TEST(HttpClient, TlsIsRefusedWithoutTheCaAndAcceptedWithIt) {
  Dir dir;
  ASSERT_FALSE(dir.path().empty());
  auto made = switchboard::testing::MakeTestCertificate(dir.path());
  ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << made.result.err;
  auto server = Start(made.cert, made.key);
  ASSERT_TRUE(server);
  Client client;
  Request req;
  req.method = "POST";
  req.url = Url(*server, "/echo?sig=SECRETSIGNATURE", "https", "localhost");
  req.body = "hi";

  // The system's CAs do not know this certificate: no request is served.
  auto refused = client.Perform(req);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  const std::string msg(refused.status().message());
  EXPECT_NE(msg.find("certificate"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;

  req.ca_file = made.cert;
  auto accepted = client.Perform(req);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->status, 200);
  EXPECT_EQ(accepted->body, "POST /echo ct= expect= empty=0 body=hi\n");

  // The open, verified connection is not lent to a call that does not trust
  // the CA.
  req.ca_file.clear();
  EXPECT_FALSE(client.Perform(req).ok());

  // A CA file that is not there is an error too, never "trust anything".
  req.ca_file = dir.path() + "/missing.pem";
  EXPECT_FALSE(client.Perform(req).ok());
}

TEST(HttpClient, RefusesWhatItCannotSend) {
  Request req;
  req.url = "ftp://127.0.0.1/x?sig=SECRETSIGNATURE";
  auto r = Client().Perform(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().find("SECRET"), std::string::npos) << r.status();

  req.url = "http://127.0.0.1:1/x";
  req.headers = {{"X-Bad", "a\r\nInjected: yes"}};
  r = Client().Perform(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("X-Bad"), std::string::npos) << r.status();
}

TEST(HttpClient, RedactUrlKeepsSchemeHostAndPathOnly) {
  EXPECT_EQ(RedactUrl("https://a.blob.core.windows.net/c/b%20x?sv=2022&sig=abc%3D"),
            "https://a.blob.core.windows.net/c/b%20x");
  EXPECT_EQ(RedactUrl("http://user:pass@127.0.0.1:80/p?q#f"), "http://127.0.0.1:80/p");
  EXPECT_EQ(RedactUrl("http://h/p#frag"), "http://h/p");
  EXPECT_EQ(RedactUrl("http://h/p@x"), "http://h/p@x");
  EXPECT_EQ(RedactUrl("http://h"), "http://h");
}

TEST(HttpClient, RetryAfterInSecondsOrAsADate) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  EXPECT_EQ(RetryAfterSeconds("120", now), 120);
  EXPECT_EQ(RetryAfterSeconds(" 7 ", now), 7);
  EXPECT_EQ(RetryAfterSeconds("-5", now), 0);
  // 1700000030 is Tue, 14 Nov 2023 22:13:50 GMT.
  EXPECT_EQ(RetryAfterSeconds("Tue, 14 Nov 2023 22:13:50 GMT", now), 30);
  EXPECT_EQ(RetryAfterSeconds("Tue, 14 Nov 2023 22:13:00 GMT", now), 0);  // in the past
  EXPECT_EQ(RetryAfterSeconds("soon", now), -1);
  EXPECT_EQ(RetryAfterSeconds("", now), -1);
}

}  // namespace
}  // namespace switchboard::httpclient
