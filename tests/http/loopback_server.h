#pragma once
// The in-process loopback server the HTTP client tests call
// (http_client_test.cc, async_client_test.cc): the one HTTP server
// (common/http/server.h) over HTTP or HTTPS on a free port.

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/http/server.h"

namespace switchboard::httpclient {
namespace {

namespace gw = httpserver;

class Dir {
 public:
  Dir() {
    std::string t = (std::filesystem::temp_directory_path() / "sb-http-client-XXXXXX").string();
    path_ = mkdtemp(t.data()) ? t : "";
  }
  ~Dir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Answers:
//   /echo      200 "<method> <path> ct=<content-type> expect=<expect> empty=<has x-empty> body=<body>",
//              with X-Echo: yes
//   /size      200 "<body size>"
//   /big?n=N   200 with N bytes ('a' + i % 26) and a newline
//   /fail?n=N  503 with N bytes ('A' + i % 26) and a newline
//   /slow      200 after a second
//   /peer      200 "<the client's ip:port>" (the same port: the same connection)
inline std::unique_ptr<gw::HttpServer> Start(const std::string& cert = "", const std::string& key = "") {
  gw::ServerOptions o;
  o.address = "127.0.0.1:0";
  o.body_limit = 8 << 20;
  o.worker_threads = 4;
  o.queue_limit = 1024;  // the async client's tests make hundreds of calls at once
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  auto s = gw::HttpServer::Start(o, [](gw::Request req, gw::Responder respond) {
    auto big = [&req](char first) {
      std::string out(std::stoul(req.Query("n")), '\0');
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(first + i % 26);
      return out;
    };
    if (req.path == "/echo") {
      gw::Response r = gw::Response::Text(
          200, absl::StrCat(req.method, " ", req.path, " ct=", req.Header("content-type"), " expect=",
                            req.Header("expect"), " empty=", req.headers.count("x-empty"), " body=", req.body));
      r.headers.emplace_back("X-Echo", "yes");
      respond(r);
    } else if (req.path == "/size") {
      respond(gw::Response::Text(200, std::to_string(req.body.size())));
    } else if (req.path == "/big") {
      respond(gw::Response::Text(200, big('a')));
    } else if (req.path == "/fail") {
      respond(gw::Response::Text(503, big('A')));
    } else if (req.path == "/slow") {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      respond(gw::Response::Text(200, "late"));
    } else if (req.path == "/peer") {
      respond(gw::Response::Text(200, req.remote));
    } else {
      respond(gw::Response::Text(404, "no such path"));
    }
  });
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

inline std::string Url(const gw::HttpServer& s, const std::string& target, const std::string& scheme = "http",
                const std::string& host = "127.0.0.1") {
  const std::string& a = s.address();
  return absl::StrCat(scheme, "://", host, ":", a.substr(a.rfind(':') + 1), target);
}

}  // namespace
}  // namespace switchboard::httpclient
