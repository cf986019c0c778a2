#include "common/http/async_client.h"

#include <curl/curl.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/http/curl_call.h"
#include "common/thread_name.h"

namespace switchboard::httpclient {
namespace {

// Idle easy handles kept for the next calls (their connections live in the
// multi handle's cache, not in them).
constexpr size_t kMaxIdleHandles = 64;
// The loop looks at its queue at least this often (curl_multi_wakeup wakes
// it at once; curl's own timers wake it too).
constexpr int kPollMs = 1000;

CURLM* Multi(void* m) { return static_cast<CURLM*>(m); }

// The client whose loop runs on this thread, if any: a call started from
// one of its `done`s needs no wake-up (the loop looks at its queue before
// it polls again).
thread_local const AsyncClient* t_loop_of = nullptr;

}  // namespace

struct AsyncClient::Call {
  Call(Request r, Done d) : request(std::move(r)), done(std::move(d)), curl(request) {}
  Request request;
  Done done;
  internal::CurlCall curl;  // refers to `request`
  CURL* handle = nullptr;
};

AsyncClient::AsyncClient() {
  internal::GlobalInit();
  multi_ = curl_multi_init();
  loop_ = NamedThread("http-client", [this] { Loop(); });
}

AsyncClient::~AsyncClient() {
  Stop();
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
  if (multi_ != nullptr) curl_multi_cleanup(Multi(multi_));
}

absl::Status AsyncClient::Stopping(const Call& call) {
  return absl::UnavailableError(absl::StrCat(call.curl.where(), ": client stopping"));
}

void AsyncClient::Start(Request request, Done done) {
  auto call = std::make_unique<Call>(std::move(request), std::move(done));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_ && multi_ != nullptr) {
      ++in_flight_;
      incoming_.push_back(std::move(call));
    }
  }
  if (call) {
    call->done(multi_ == nullptr ? absl::InternalError(absl::StrCat(call->curl.where(), ": curl_multi_init failed"))
                                 : Stopping(*call));
    return;
  }
  if (t_loop_of != this) curl_multi_wakeup(Multi(multi_));
}

size_t AsyncClient::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

void AsyncClient::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (multi_ != nullptr) curl_multi_wakeup(Multi(multi_));
  if (loop_.joinable()) loop_.join();
}

void AsyncClient::Begin(std::unique_ptr<Call> call) {
  absl::Status checked = call->curl.Check();
  CURL* c = nullptr;
  if (checked.ok()) {
    if (!idle_.empty()) {
      c = static_cast<CURL*>(idle_.back());
      idle_.pop_back();
    } else {
      c = curl_easy_init();
    }
    if (c == nullptr) checked = absl::InternalError(absl::StrCat(call->curl.where(), ": curl_easy_init failed"));
  }
  if (checked.ok()) {
    call->curl.Apply(c);
    call->handle = c;
    if (CURLMcode rc = curl_multi_add_handle(Multi(multi_), c); rc != CURLM_OK) {
      checked = absl::InternalError(absl::StrCat(call->curl.where(), ": ", curl_multi_strerror(rc)));
      curl_easy_reset(c);
      idle_.push_back(c);
      call->handle = nullptr;
    }
  }
  if (!checked.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --in_flight_;
    }
    call->done(std::move(checked));
    return;
  }
  running_.emplace(c, std::move(call));
}

void AsyncClient::Reap() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(Multi(multi_), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* c = msg->easy_handle;
    const CURLcode rc = msg->data.result;  // read before the handle leaves
    auto it = running_.find(c);
    if (it == running_.end()) continue;
    std::unique_ptr<Call> call = std::move(it->second);
    running_.erase(it);
    curl_multi_remove_handle(Multi(multi_), c);
    absl::StatusOr<Response> result = call->curl.Finish(c, rc);
    curl_easy_reset(c);  // nothing of this call (pointers to it) stays in the handle
    if (idle_.size() < kMaxIdleHandles) {
      idle_.push_back(c);
    } else {
      curl_easy_cleanup(c);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      --in_flight_;
    }
    call->done(std::move(result));
  }
}

void AsyncClient::Loop() {
  t_loop_of = this;
  while (true) {
    std::deque<std::unique_ptr<Call>> fresh;
    bool stop = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      fresh.swap(incoming_);
      stop = stopping_;
    }
    if (stop) {
      // Every call still here fails once; nothing is left uncalled.
      std::vector<std::unique_ptr<Call>> failing;
      for (auto& call : fresh) failing.push_back(std::move(call));
      for (auto& [c, call] : running_) {
        curl_multi_remove_handle(Multi(multi_), static_cast<CURL*>(c));
        curl_easy_reset(static_cast<CURL*>(c));
        idle_.push_back(c);
        failing.push_back(std::move(call));
      }
      running_.clear();
      {
        std::lock_guard<std::mutex> lock(mu_);
        in_flight_ -= failing.size();
      }
      for (auto& call : failing) call->done(Stopping(*call));
      return;
    }
    for (auto& call : fresh) Begin(std::move(call));
    int still_running = 0;
    curl_multi_perform(Multi(multi_), &still_running);
    Reap();
    bool queued = false;
    {
      // Calls the `done`s just started (no wake-up was sent for them).
      std::lock_guard<std::mutex> lock(mu_);
      queued = !incoming_.empty();
    }
    if (!queued) curl_multi_poll(Multi(multi_), nullptr, 0, kPollMs, nullptr);
  }
}

}  // namespace switchboard::httpclient
