#pragma once
// A small synchronous HTTP/1.1 client for gateway tests (Boost.Beast), with
// one persistent connection so that keep-alive can be checked.

#include <map>
#include <memory>
#include <string>

namespace switchboard::testing {

struct HttpResult {
  int status = 0;  // 0 when no answer came (connection refused, closed...)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names
  bool keep_alive = false;
  std::string error;
};

class HttpClient {
 public:
  // `address` is "host:port".
  explicit HttpClient(std::string address);
  ~HttpClient();

  HttpResult Request(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {});
  HttpResult Get(const std::string& target) { return Request("GET", target); }
  HttpResult Post(const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers = {}) {
    return Request("POST", target, body, headers);
  }
  // Sends raw bytes on a fresh connection and returns what came back.
  std::string Raw(const std::string& bytes);
  // How many TCP connections this client opened so far.
  int connections() const { return connections_; }

 private:
  struct Conn;
  std::string address_;
  std::unique_ptr<Conn> conn_;
  int connections_ = 0;
};

}  // namespace switchboard::testing
