#pragma once
// A server certificate chain and its private key, loaded once (TLS 1.2 or
// later); every HTTPS connection of the server (common/http/server.h) uses
// it for its handshake.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace switchboard::httpserver {

class TlsContext {
 public:
  // PEM files. INVALID_ARGUMENT naming `cert_key` / `key_key` (the config
  // keys the files came from) when a file does not load, or when the key is
  // not the certificate's.
  static absl::StatusOr<std::shared_ptr<TlsContext>> Load(const std::string& cert_file, const std::string& key_file,
                                                          absl::string_view cert_key = "http_tls_cert_file",
                                                          absl::string_view key_key = "http_tls_key_file");
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  boost::asio::ssl::context& asio() const { return *ctx_; }

 private:
  TlsContext();
  std::unique_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace switchboard::httpserver
