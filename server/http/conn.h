#pragma once
// One accepted connection of switchboardd's HTTP listener (the admin and blob
// endpoints), plain or TLS. TLS is OpenSSL on the blocking socket; reads and
// writes honour the socket's SO_RCVTIMEO / SO_SNDTIMEO either way, so the
// listener code is the same for both.

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::http {

class Conn {
 public:
  virtual ~Conn() = default;  // closes the socket
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Up to `cap` bytes; 0 at the end of the stream, -1 on an error or a
  // time-out.
  virtual ssize_t Read(char* buf, size_t cap) = 0;
  // False when the peer went away or a write timed out.
  virtual bool WriteAll(absl::string_view data) = 0;
  // For an answer sent before the request body was read (a refused upload):
  // stop sending, then read and discard what still arrives (at most 2 s and
  // 64 MB) before closing. Closing with unread input makes the kernel answer
  // RST, which can destroy the answer before the client reads it.
  virtual void LingeringClose() = 0;

  int fd() const { return fd_; }
  bool tls() const { return tls_; }

 protected:
  Conn(int fd, bool tls) : fd_(fd), tls_(tls) {}
  int fd_;
  bool tls_;
};

// Takes ownership of `fd`.
std::unique_ptr<Conn> PlainConn(int fd);

// Blocks SIGPIPE in the calling thread. OpenSSL writes to the socket with
// write(), which raises SIGPIPE when the peer is gone; blocked, it stays
// pending and the write fails with EPIPE instead of ending the process
// (switchboardd ignores SIGPIPE anyway; a program embedding the listener, a
// test, may not). Every thread serving connections calls it first.
void BlockSigpipeInThisThread();

// A server certificate and key, loaded once; each connection's handshake
// uses it.
class TlsServer {
 public:
  // INVALID_ARGUMENT naming `cert_key` / `key_key` (the config keys the files
  // came from) when a file does not load or the key is not the
  // certificate's.
  static absl::StatusOr<std::shared_ptr<TlsServer>> Load(const std::string& cert_file, const std::string& key_file,
                                                         absl::string_view cert_key, absl::string_view key_key);
  ~TlsServer();

  // The server side of the handshake on an accepted socket (it takes
  // ownership of `fd`, and closes it on failure). UNAVAILABLE with
  // OpenSSL's reason when the handshake fails: a plain-HTTP client, an
  // unknown CA, a time-out.
  absl::StatusOr<std::unique_ptr<Conn>> Accept(int fd) const;

 private:
  TlsServer() = default;
  void* ctx_ = nullptr;  // SSL_CTX*, kept out of this header
};

}  // namespace switchboard::http
