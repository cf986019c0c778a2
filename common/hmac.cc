#include "common/hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include <memory>
#include <string>

namespace switchboard {
namespace {

struct CtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// This thread's HMAC context with SHA-256 chosen; the algorithm is fetched
// once per process, the digest once per thread.
EVP_MAC_CTX* ThreadContext() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  thread_local std::unique_ptr<EVP_MAC_CTX, CtxFree> ctx = [] {
    std::unique_ptr<EVP_MAC_CTX, CtxFree> c(mac == nullptr ? nullptr : EVP_MAC_CTX_new(mac));
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    if (c != nullptr && EVP_MAC_CTX_set_params(c.get(), params) != 1) c.reset();
    return c;
  }();
  return ctx.get();
}

}  // namespace

Sha256Digest HmacSha256(absl::string_view key, std::initializer_list<absl::string_view> parts) {
  Sha256Digest out{};
  EVP_MAC_CTX* ctx = ThreadContext();
  // An empty key is a valid HMAC key; OpenSSL wants a non-null pointer.
  static const unsigned char kNoKey = 0;
  const auto* k = key.empty() ? &kNoKey : reinterpret_cast<const unsigned char*>(key.data());
  bool ok = ctx != nullptr && EVP_MAC_init(ctx, k, key.size(), nullptr) == 1;
  for (absl::string_view p : parts) {
    if (!ok) break;
    ok = EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size()) == 1;
  }
  size_t len = 0;
  if (ok && EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size()) return out;
  // The context could not be set up (OpenSSL without its default provider
  // loaded in this thread?): the one-shot call, as before.
  std::string whole;
  for (absl::string_view p : parts) whole.append(p.data(), p.size());
  unsigned int n = 0;
  HMAC(EVP_sha256(), k, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(whole.data()),
       whole.size(), out.data(), &n);
  return out;
}

}  // namespace switchboard
