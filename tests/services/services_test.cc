// Checks that the services tools/test.sh starts are really there: a RabbitMQ
// broker answering the AMQP 0-9-1 handshake and an Azurite blob endpoint
// answering HTTP. Later suites depend on both. A missing variable fails the
// test (run the suite through tools/test.sh).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <string>

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    ADD_FAILURE() << name << " is not set: run the tests through tools/test.sh, which starts RabbitMQ and Azurite";
    return "";
  }
  return v;
}

// Connects to 127.0.0.1:port, sends `hello`, returns what comes back.
std::string Exchange(int port, const std::string& hello) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) out.assign(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

TEST(Services, RabbitMqAnswersTheAmqpHandshake) {
  std::string port = Env("SWITCHBOARD_TEST_AMQP_PORT");
  ASSERT_FALSE(port.empty());
  std::string reply = Exchange(std::stoi(port), std::string("AMQP\0\0\x09\x01", 8));
  ASSERT_GE(reply.size(), 12u) << "no answer from RabbitMQ on port " << port;
  EXPECT_EQ(reply[0], 1) << "a method frame (connection.start)";
  EXPECT_EQ(static_cast<unsigned char>(reply[7]), 0) << "class 10 (connection), high byte";
  EXPECT_EQ(static_cast<unsigned char>(reply[8]), 10) << "class 10 (connection)";
}

TEST(Services, AzuriteAnswersHttp) {
  std::string blob = Env("SWITCHBOARD_TEST_AZURITE_BLOB");
  ASSERT_FALSE(blob.empty());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(blob, m, std::regex("^http://127\\.0\\.0\\.1:([0-9]+)/"))) << blob;
  std::string reply = Exchange(std::stoi(m[1]), "GET /devstoreaccount1?comp=list HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                "Connection: close\r\n\r\n");
  ASSERT_EQ(reply.rfind("HTTP/1.1 ", 0), 0u) << "no HTTP answer from Azurite: " << reply;
  EXPECT_NE(reply.find("x-ms-request-id"), std::string::npos) << "an Azure Storage answer";
}

}  // namespace
