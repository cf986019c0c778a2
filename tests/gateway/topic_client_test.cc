// TopicClient's connections: kept open between POSTs, and made again when
// the topic closes one. The topic here is a bare loopback socket server, so
// the test can count the connections it accepted.
#include "gateway/eventgrid/topic_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/http/server.h"
#include "tests/clients/subprocess.h"
#include "tests/core/test_support.h"

namespace switchboard::gateway::eventgrid {
namespace {

// Answers every request 200; with `close_each`, closes the connection after
// each answer.
class CountingTopic {
 public:
  explicit CountingTopic(bool close_each) : close_each_(close_each) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Accept(); });
  }
  ~CountingTopic() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& t : connections_) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/events"; }
  int accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }

 private:
  void Accept() {
    while (true) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepted_;
      connections_.emplace_back([this, c] { Serve(c); });
    }
  }
  void Serve(int c) {
    std::string in;
    char buf[4096];
    while (true) {
      size_t head = in.find("\r\n\r\n");
      if (head != std::string::npos) {
        size_t at = in.find("Content-Length: ");
        size_t length = at != std::string::npos && at < head ? std::stoul(in.substr(at + 16)) : 0;
        if (in.size() >= head + 4 + length) {
          in.erase(0, head + 4 + length);
          ++requests_;
          std::string answer = close_each_ ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                           : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
          if (::write(c, answer.data(), answer.size()) < 0 || close_each_) break;
          continue;
        }
      }
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    ::close(c);
  }

  bool close_each_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0}, requests_{0};
  std::thread thread_;
  std::vector<std::thread> connections_;  // only the accept thread adds
};

TopicOptions Options(const std::string& url) {
  TopicOptions o;
  o.url = url;
  o.key = "k";
  o.attempt_timeout = std::chrono::milliseconds(5000);
  return o;
}

TEST(TopicClient, KeepsItsConnectionOpenBetweenPosts) {
  CountingTopic topic(/*close_each=*/false);
  {
    TopicClient client(Options(topic.url()));
    for (int i = 0; i < 5; ++i) {
      PostResult r = client.PostOnce("[]");
      EXPECT_EQ(r.http_status, 200) << r.error;
    }
  }
  EXPECT_EQ(topic.requests(), 5);
  EXPECT_EQ(topic.accepted(), 1);
}

TEST(TopicClient, ConnectsAgainWhenTheTopicClosesTheConnection) {
  CountingTopic topic(/*close_each=*/true);
  {
    TopicClient client(Options(topic.url()));
    for (int i = 0; i < 3; ++i) {
      PostResult r = client.PostOnce("[]");
      EXPECT_EQ(r.http_status, 200) << r.error;
    }
  }
  EXPECT_EQ(topic.requests(), 3);
  EXPECT_EQ(topic.accepted(), 3);
}

// An https:// topic is verified against eventgrid_topic_ca_file; without the
// CA (the system's CAs do not know it) nothing is sent.
TEST(TopicClient, VerifiesAnHttpsTopicAgainstTheGivenCa) {
  switchboard::testing::TempDir dir;
  auto made = switchboard::testing::MakeTestCertificate(dir.path());
  ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << made.result.err;
  httpserver::ServerOptions o;
  o.address = "127.0.0.1:0";
  o.tls_cert_file = made.cert;
  o.tls_key_file = made.key;
  std::atomic<int> received{0};
  auto topic = httpserver::HttpServer::Start(o, [&received](httpserver::Request req, httpserver::Responder respond) {
    if (req.body == "[]") received.fetch_add(1);
    respond(httpserver::Response::Text(200, "ok"));
  });
  ASSERT_TRUE(topic.ok()) << topic.status();
  const std::string url = "https://localhost:" + (*topic)->address().substr((*topic)->address().rfind(':') + 1) +
                          "/api/events";
  TopicOptions trusted = Options(url);
  trusted.ca_file = made.cert;
  EXPECT_EQ(TopicClient(trusted).PostOnce("[]").http_status, 200);
  PostResult untrusted = TopicClient(Options(url)).PostOnce("[]");
  EXPECT_EQ(untrusted.http_status, 0) << untrusted.error;
  EXPECT_FALSE(untrusted.error.empty());
  EXPECT_EQ(received.load(), 1);
}

}  // namespace
}  // namespace switchboard::gateway::eventgrid
