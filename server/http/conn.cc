#include "server/http/conn.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::http {
namespace {

constexpr size_t kMaxDrained = 64u << 20;

void StopSendingAndWait(int fd) {
  ::shutdown(fd, SHUT_WR);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no reason given";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

class Plain : public Conn {
 public:
  explicit Plain(int fd) : Conn(fd, false) {}
  ~Plain() override {
    if (fd_ >= 0) ::close(fd_);
  }

  ssize_t Read(char* buf, size_t cap) override {
    while (true) {
      ssize_t n = ::recv(fd_, buf, cap, 0);
      if (n < 0 && errno == EINTR) continue;
      return n < 0 ? -1 : n;
    }
  }

  bool WriteAll(absl::string_view data) override {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  void LingeringClose() override {
    StopSendingAndWait(fd_);
    char scratch[64 * 1024];
    size_t drained = 0;
    ssize_t n;
    while (drained < kMaxDrained && (n = Read(scratch, sizeof(scratch))) > 0) drained += static_cast<size_t>(n);
    ::close(fd_);
    fd_ = -1;
  }
};

class Tls : public Conn {
 public:
  Tls(int fd, SSL* ssl) : Conn(fd, true), ssl_(ssl) {}
  ~Tls() override {
    if (ssl_ != nullptr) {
      SSL_shutdown(ssl_);  // close_notify, best effort
      SSL_free(ssl_);
    }
    if (fd_ >= 0) ::close(fd_);
  }

  ssize_t Read(char* buf, size_t cap) override {
    int n = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(cap, 1 << 30)));
    if (n > 0) return n;
    int err = SSL_get_error(ssl_, n);
    ERR_clear_error();
    return err == SSL_ERROR_ZERO_RETURN ? 0 : -1;
  }

  bool WriteAll(absl::string_view data) override {
    size_t off = 0;
    while (off < data.size()) {
      int n = SSL_write(ssl_, data.data() + off, static_cast<int>(std::min<size_t>(data.size() - off, 1 << 30)));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }

  void LingeringClose() override {
    // close_notify first, so the client sees a clean end of the answer; then
    // what it still sends is read (and decrypted) and dropped.
    SSL_shutdown(ssl_);
    StopSendingAndWait(fd_);
    char scratch[64 * 1024];
    size_t drained = 0;
    ssize_t n;
    while (drained < kMaxDrained && (n = Read(scratch, sizeof(scratch))) > 0) drained += static_cast<size_t>(n);
    SSL_free(ssl_);
    ssl_ = nullptr;
    ::close(fd_);
    fd_ = -1;
  }

 private:
  SSL* ssl_;
};

}  // namespace

std::unique_ptr<Conn> PlainConn(int fd) { return std::make_unique<Plain>(fd); }

void BlockSigpipeInThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

absl::StatusOr<std::shared_ptr<TlsServer>> TlsServer::Load(const std::string& cert_file, const std::string& key_file,
                                                           absl::string_view cert_key, absl::string_view key_key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("cannot make a TLS context: ", OpenSslError()));
  auto server = std::shared_ptr<TlsServer>(new TlsServer());
  server->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(cert_key, " '", cert_file,
                                                   "': cannot load a PEM certificate chain: ", OpenSslError()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::string why = OpenSslError();
    if (absl::StrContains(why, "mismatch")) {
      return absl::InvalidArgumentError(
          absl::StrCat(key_key, " '", key_file, "' is not the key of ", cert_key, " '", cert_file, "'"));
    }
    return absl::InvalidArgumentError(absl::StrCat(key_key, " '", key_file, "': cannot load a PEM private key: ", why));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(key_key, " '", key_file, "' is not the key of ", cert_key, " '", cert_file, "'"));
  }
  return server;
}

TlsServer::~TlsServer() {
  if (ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

absl::StatusOr<std::unique_ptr<Conn>> TlsServer::Accept(int fd) const {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    if (ssl != nullptr) SSL_free(ssl);
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot start TLS: ", OpenSslError()));
  }
  if (SSL_accept(ssl) != 1) {
    std::string why = OpenSslError();
    SSL_free(ssl);
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", why));
  }
  return std::unique_ptr<Conn>(new Tls(fd, ssl));
}

}  // namespace switchboard::http
