// The event-loop HTTP client (common/http/async_client.h) against the
// in-process loopback server: many calls at once on one loop thread, a
// refused connection, a timeout, TLS verified against the test CA, and
// Stop with calls under way calling every `done` once.

#include "common/http/async_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
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

// Collects the answers of calls, by index, and waits for them.
class Answers {
 public:
  AsyncClient::Done For(int i) {
    return [this, i](absl::StatusOr<Response> r) {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_[i];
      results_.insert_or_assign(i, std::move(r));
      threads_.insert(std::this_thread::get_id());
      cv_.notify_all();
    };
  }
  // True once `n` different calls answered (within 20 s).
  bool Wait(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return results_.size() >= n; });
  }
  absl::StatusOr<Response> Get(int i) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = results_.find(i);
    if (it == results_.end()) return absl::NotFoundError("no answer");
    return it->second;
  }
  std::map<int, int> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::set<std::thread::id> threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, absl::StatusOr<Response>> results_;
  std::map<int, int> calls_;
  std::set<std::thread::id> threads_;
};

TEST(AsyncHttpClient, ManyCallsAtOnceOnOneLoopThread) {
  auto server = Start();
  ASSERT_TRUE(server);
  AsyncClient client;
  Answers answers;
  constexpr int kCalls = 300;
  for (int i = 0; i < kCalls; ++i) {
    Request req;
    req.method = "POST";
    req.url = Url(*server, "/echo");
    req.headers = {{"Content-Type", "text/plain"}};
    req.owned_body = absl::StrCat("call-", i);  // the caller's copy is gone at once
    client.Start(std::move(req), answers.For(i));
  }
  ASSERT_TRUE(answers.Wait(kCalls));
  for (int i = 0; i < kCalls; ++i) {
    auto r = answers.Get(i);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, absl::StrCat("POST /echo ct=text/plain expect= empty=0 body=call-", i, "\n"));
    EXPECT_EQ(r->Header("x-echo"), "yes");
  }
  for (const auto& [i, n] : answers.calls()) EXPECT_EQ(n, 1) << i;
  // Every answer came on the client's one loop thread, not the caller's.
  auto threads = answers.threads();
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_NE(*threads.begin(), std::this_thread::get_id());
  EXPECT_EQ(client.in_flight(), 0u);
}

// A call started from a `done` (on the loop thread, as the webhook engine
// starts its next attempt) goes out at once: the loop sends no wake-up to
// itself and looks at its queue before it polls again. Were it missed, each
// such call would wait for the loop's 1 s poll: 40 in a row would take 40 s.
TEST(AsyncHttpClient, CallsStartedFromADoneGoOutWithoutWaitingForThePoll) {
  auto server = Start();
  ASSERT_TRUE(server);
  AsyncClient client;
  constexpr int kChain = 40;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, ok = 0;
  std::function<void(int)> next = [&](int i) {
    Request req;
    req.url = Url(*server, absl::StrCat("/peer?i=", i));
    client.Start(std::move(req), [&, i](absl::StatusOr<Response> r) {
      {
        std::lock_guard<std::mutex> lock(mu);
        ++answered;
        if (r.ok() && r->status == 200) ++ok;
        cv.notify_all();
      }
      if (i + 1 < kChain) next(i + 1);
    });
  };
  const absl::Time start = absl::Now();
  next(0);
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return answered == kChain; }))
        << answered << " of " << kChain << " chained calls answered in 30 s";
    EXPECT_EQ(ok, kChain);
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "chained calls waited for the loop's poll";
  // Before `next` and the counters go: a chain still under way ends here.
  client.Stop();
}

TEST(AsyncHttpClient, ReusesConnectionsAndHonoursErrorStatuses) {
  auto server = Start();
  ASSERT_TRUE(server);
  AsyncClient client;
  std::set<std::string> peers;
  for (int i = 0; i < 5; ++i) {  // one after another: one connection
    Answers answers;
    Request req;
    req.url = Url(*server, "/peer");
    client.Start(std::move(req), answers.For(0));
    ASSERT_TRUE(answers.Wait(1));
    auto r = answers.Get(0);
    ASSERT_TRUE(r.ok()) << r.status();
    peers.insert(r->body);
  }
  EXPECT_EQ(peers.size(), 1u);

  Answers answers;
  Request fail;
  fail.url = Url(*server, "/fail?n=10");
  fail.max_body = 4;
  client.Start(std::move(fail), answers.For(0));
  ASSERT_TRUE(answers.Wait(1));
  auto r = answers.Get(0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "ABCD");
  EXPECT_TRUE(r->body_truncated);
}

TEST(AsyncHttpClient, ARefusedConnectionIsUnavailableNamingTheUrlWithoutItsQuery) {
  std::string url;
  {
    auto server = Start();
    ASSERT_TRUE(server);
    url = Url(*server, "/hook");
  }
  AsyncClient client;
  Answers answers;
  Request req;
  req.method = "POST";
  req.url = url + "?token=SECRETSIGNATURE";
  req.owned_body = "{}";
  req.connect_timeout = absl::Seconds(2);
  client.Start(std::move(req), answers.For(0));
  ASSERT_TRUE(answers.Wait(1));
  auto r = answers.Get(0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  const std::string msg(r.status().message());
  EXPECT_EQ(msg.rfind("POST " + url + ": ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('?'), std::string::npos) << msg;

  // What cannot be sent is refused before anything goes out.
  Request ftp;
  ftp.url = "ftp://127.0.0.1/x";
  client.Start(std::move(ftp), answers.For(1));
  ASSERT_TRUE(answers.Wait(2));
  EXPECT_EQ(answers.Get(1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AsyncHttpClient, TimesOutAndSaysSoWhileOtherCallsGoOn) {
  auto server = Start();
  ASSERT_TRUE(server);
  AsyncClient client;
  Answers answers;
  Request slow;
  slow.url = Url(*server, "/slow?sig=SECRETSIGNATURE");
  slow.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  client.Start(std::move(slow), answers.For(0));
  Request quick;
  quick.url = Url(*server, "/peer");
  client.Start(std::move(quick), answers.For(1));
  ASSERT_TRUE(answers.Wait(2));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(900));
  auto r = answers.Get(0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("GET " + Url(*server, "/slow") + ": "), std::string::npos) << msg;
  EXPECT_NE(msg.find("imeout"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
  ASSERT_TRUE(answers.Get(1).ok()) << answers.Get(1).status();
}

TEST(AsyncHttpClient, HttpsIsVerifiedAgainstTheGivenCaAndAWrongCaIsRefused) {
  Dir dir;
  ASSERT_FALSE(dir.path().empty());
  auto made = switchboard::testing::MakeTestCertificate(dir.path());
  ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << made.result.err;
  Dir other;
  ASSERT_FALSE(other.path().empty());
  auto wrong = switchboard::testing::MakeTestCertificate(other.path());
  ASSERT_TRUE(wrong.made) << "cannot make a second test certificate: " << wrong.result.err;
  auto server = Start(made.cert, made.key);
  ASSERT_TRUE(server);
  AsyncClient client;
  auto request = [&](const std::string& ca) {
    Request req;
    req.method = "POST";
    req.url = Url(*server, "/echo", "https", "localhost");
    req.owned_body = "hi";
    req.ca_file = ca;
    return req;
  };
  Answers answers;
  client.Start(request(made.cert), answers.For(0));
  ASSERT_TRUE(answers.Wait(1));
  auto ok = answers.Get(0);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->body, "POST /echo ct= expect= empty=0 body=hi\n");

  // Neither another CA nor the system's trust this certificate, even with
  // a verified connection to the host open in the cache.
  client.Start(request(wrong.cert), answers.For(1));
  client.Start(request(""), answers.For(2));
  ASSERT_TRUE(answers.Wait(3));
  for (int i : {1, 2}) {
    auto refused = answers.Get(i);
    ASSERT_FALSE(refused.ok()) << i;
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(refused.status().message().find("certificate"), std::string::npos) << refused.status();
  }
}

TEST(AsyncHttpClient, StopFailsTheCallsUnderWayAndCallsEveryDoneOnce) {
  auto server = Start();
  ASSERT_TRUE(server);
  AsyncClient client;
  Answers answers;
  constexpr int kCalls = 6;
  for (int i = 0; i < kCalls; ++i) {
    Request req;
    req.url = Url(*server, "/slow?sig=SECRETSIGNATURE");
    client.Start(std::move(req), answers.For(i));
  }
  // Under way: the server answers a second from now.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(client.in_flight(), static_cast<size_t>(kCalls));
  client.Stop();
  ASSERT_TRUE(answers.Wait(kCalls));
  for (int i = 0; i < kCalls; ++i) {
    auto r = answers.Get(i);
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(r.status().message(), "GET " + Url(*server, "/slow") + ": client stopping");
  }
  // After Stop a call fails at once, on the caller's thread.
  Request late;
  late.url = Url(*server, "/peer");
  client.Start(std::move(late), answers.For(kCalls));
  EXPECT_EQ(answers.Get(kCalls).status().code(), absl::StatusCode::kUnavailable);
  client.Stop();  // idempotent
  auto calls = answers.calls();
  EXPECT_EQ(calls.size(), static_cast<size_t>(kCalls + 1));
  for (const auto& [i, n] : calls) EXPECT_EQ(n, 1) << i;
}

}  // namespace
}  // namespace switchboard::httpclient
