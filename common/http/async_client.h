#pragma once
// An HTTP client whose calls block no thread: one event-loop thread drives
// a libcurl multi handle, and each call's `done` runs on that thread when
// its answer is in (or the call failed). The same calls as the blocking
// Client (client.h), made the same way (common/http/curl_call.h): TLS
// always verified against the request's CA file or the system's CAs, the
// connect and call timeouts, no redirects, http(s) only, errors naming the
// method, the URL without its query and curl's message. Connections (and
// TLS sessions) are kept in the multi handle's cache and reused by the
// next call to the same host (keep-alive).
//
// `done` runs on the loop thread, one call's after another: it must not
// block (no store calls, no waiting on a lock held across slow work);
// hand heavy work to a pool (core::Pool::Post). A request's body_source
// and sink, if set, run on the loop thread too.

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/http/client.h"

namespace switchboard::httpclient {

class AsyncClient {
 public:
  using Done = std::function<void(absl::StatusOr<Response>)>;

  // Starts the loop thread.
  AsyncClient();
  // Stop().
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Starts the call; `done` gets what Client::Perform would return, on the
  // loop thread. The request is kept until then: give its body in
  // `owned_body`, not `body` (a view into the caller's buffer), unless that
  // buffer outlives the call. Once Stop began, `done` runs at once, on the
  // caller's thread, with UNAVAILABLE "<method> <url>: client stopping".
  void Start(Request request, Done done);

  // Calls under way now (started and not done).
  size_t in_flight() const;

  // Fails every call still under way with UNAVAILABLE "<method> <url>:
  // client stopping" (each `done` runs once, on the loop thread), then
  // joins the loop thread. Calls started later fail at once. Callers that
  // want their answers wait for their calls before stopping. Idempotent;
  // never call it from a `done`.
  void Stop();

 private:
  struct Call;
  void Loop();
  // Adds a call to the multi handle, or fails it (on the loop thread).
  void Begin(std::unique_ptr<Call> call);
  // Ends the calls curl finished.
  void Reap();
  // What Stop gives the calls still under way.
  static absl::Status Stopping(const Call& call);

  void* multi_;  // CURLM
  mutable std::mutex mu_;
  std::mutex stop_mu_;
  std::deque<std::unique_ptr<Call>> incoming_;
  bool stopping_ = false;
  size_t in_flight_ = 0;
  // Loop thread only: the calls in the multi handle, by easy handle, and
  // idle easy handles.
  std::map<void*, std::unique_ptr<Call>> running_;
  std::vector<void*> idle_;
  std::thread loop_;
};

}  // namespace switchboard::httpclient
