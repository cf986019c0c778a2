#include "common/http/tls.h"

#include <openssl/err.h>

#include <boost/asio/ssl/context.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::httpserver {

namespace ssl = boost::asio::ssl;

TlsContext::TlsContext() : ctx_(std::make_unique<ssl::context>(ssl::context::tls_server)) {}

TlsContext::~TlsContext() = default;

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Load(const std::string& cert_file,
                                                             const std::string& key_file, absl::string_view cert_key,
                                                             absl::string_view key_key) {
  auto tls = std::shared_ptr<TlsContext>(new TlsContext());
  ssl::context& ctx = *tls->ctx_;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  auto not_its_key = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(key_key, " '", key_file, "' is not the key of ", cert_key, " '", cert_file, "'"));
  };
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_key, " '", cert_file, "': cannot load a PEM certificate chain: ", ec.message()));
  }
  ctx.use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec && absl::StrContains(ec.message(), "mismatch")) return not_its_key();
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_key, " '", key_file, "': cannot load a PEM private key: ", ec.message()));
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ERR_clear_error();
    return not_its_key();
  }
  return tls;
}

}  // namespace switchboard::httpserver
