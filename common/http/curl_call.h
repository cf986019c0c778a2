#pragma once
// Internal to common/http: one libcurl call of a Request, shared by the
// blocking Client (client.h) and the AsyncClient (async_client.h), so both
// set a handle up, collect the answer and word their errors the same way:
// TLS always verified, timeouts, no redirects, http(s) only, errors naming
// the method and the redacted URL with curl's message.

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/http/client.h"

namespace switchboard::httpclient::internal {

// curl_global_init, once per process.
void GlobalInit();

// What one call's callbacks share. Not movable once Apply set a handle up
// (the handle holds pointers into it).
class CurlCall {
 public:
  // `req` must outlive the call.
  explicit CurlCall(const Request& req);
  CurlCall(const CurlCall&) = delete;
  CurlCall& operator=(const CurlCall&) = delete;

  // INVALID_ARGUMENT for what cannot be sent: a URL that is not http(s), a
  // header that would break the request. Call before Apply.
  absl::Status Check();
  // Sets the options of the call on `c` (a fresh or reset handle).
  void Apply(CURL* c);
  // The call's result once curl returned `rc` for it; reads `c` (call it
  // before the handle is reset).
  absl::StatusOr<Response> Finish(CURL* c, CURLcode rc);

  // "POST https://host/path": what errors name.
  const std::string& where() const { return where_; }

 private:
  static size_t OnHeader(char* data, size_t size, size_t n, void* user);
  static size_t OnBody(char* data, size_t size, size_t n, void* user);
  static size_t OnRead(char* buf, size_t size, size_t n, void* user);

  struct SlistFree {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  };

  const Request& req_;
  const std::string where_;
  std::unique_ptr<curl_slist, SlistFree> headers_;
  Response resp_;
  CURL* curl_ = nullptr;
  int64_t sent_ = 0;
  absl::Status source_error_;
  bool sink_stopped_ = false;
  char errbuf_[CURL_ERROR_SIZE];
};

}  // namespace switchboard::httpclient::internal
