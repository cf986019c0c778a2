#include "gateway/cursor_lease_holder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "switchboard/v1/cursors.grpc.pb.h"

namespace switchboard::gateway {
namespace {

CursorLeaseOptions WithHolder(CursorLeaseOptions o) {
  if (o.holder.empty()) o.holder = NewLeaseHolder();
  return o;
}

// The hand-back, and the last commit while stopping, get this long.
constexpr std::chrono::milliseconds kLastCallTimeout{2000};

}  // namespace

CursorLeaseHolder::CursorLeaseHolder(const client::Connection* conn, CursorLeaseOptions options,
                                     std::function<void(const std::string& kind)> record_error)
    : conn_(conn),
      options_(WithHolder(std::move(options))),
      record_error_(std::move(record_error)),
      client_(conn, options_.cursor, options_.holder, options_.ttl, options_.ttl_key) {}

CursorLeaseHolder::~CursorLeaseHolder() { StopRenewing(); }

bool CursorLeaseHolder::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return token_ != 0 && !lost_;
}

bool CursorLeaseHolder::Begin(int64_t* after, std::chrono::milliseconds* wait) {
  return leased() ? Acquire(after, wait) : LoadCursor(after, wait);
}

void CursorLeaseHolder::RunTerms(const std::atomic<bool>& stop,
                                 const std::function<void(std::chrono::milliseconds)>& sleep,
                                 const std::function<void(int64_t after)>& term) {
  while (!stop) {
    int64_t after = 0;
    std::chrono::milliseconds wait{0};
    if (Begin(&after, &wait)) {
      term(after);
    } else {
      sleep(wait);
    }
  }
}

bool CursorLeaseHolder::LoadCursor(int64_t* after, std::chrono::milliseconds* wait) {
  auto ctx = conn_->NewUnaryContext();
  v1::GetCursorRequest req;
  req.set_name(options_.cursor);
  v1::Cursor cursor;
  grpc::Status s = v1::CursorService::NewStub(conn_->channel())->GetCursor(ctx.get(), req, &cursor);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    *after = 0;
    log::Info(absl::StrCat(options_.what, " starts a new cursor at the beginning of the log"),
              {{"cursor", options_.cursor}});
    backoff_ = std::chrono::milliseconds(100);
    return true;
  }
  if (!s.ok()) {
    log::Warn(absl::StrCat("cannot read the ", options_.what, "'s cursor; retrying"),
              {{"cursor", options_.cursor}, {"error", s.error_message()}});
    *wait = backoff_;
    backoff_ = std::min(options_.max_backoff, backoff_ * 2);
    return false;
  }
  *after = cursor.sequence();
  log::Info(absl::StrCat(options_.what, " resumes"), {{"cursor", options_.cursor}, {"after_sequence", *after}});
  backoff_ = std::chrono::milliseconds(100);
  return true;
}

bool CursorLeaseHolder::Commit(int64_t sequence, int attempts, const std::atomic<bool>& halt,
                               const std::function<void(std::chrono::milliseconds)>& sleep, int64_t* committed) {
  auto stub = v1::CursorService::NewStub(conn_->channel());
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const auto started = std::chrono::steady_clock::now();
    auto ctx = conn_->NewUnaryContext();
    // Stopping: one last try.
    if (halt) client::SetDeadline(ctx.get(), absl::Milliseconds(kLastCallTimeout.count()));
    v1::CommitCursorRequest req;
    req.set_name(options_.cursor);
    req.set_sequence(sequence);
    Fence(&req);
    v1::Cursor cursor;
    grpc::Status s = stub->CommitCursor(ctx.get(), req, &cursor);
    if (s.ok()) {
      *committed = cursor.sequence();
      Committed(started);
      return true;
    }
    if (Refused(s)) return false;
    log::Warn(absl::StrCat("cannot commit the ", options_.what, "'s cursor"),
              {{"cursor", options_.cursor}, {"sequence", sequence}, {"error", s.error_message()}});
    if (halt) break;
    sleep(std::chrono::milliseconds(100 << attempt));
  }
  if (record_error_) record_error_(options_.commit_error_kind);
  return false;
}

bool CursorLeaseHolder::Acquire(int64_t* after, std::chrono::milliseconds* wait) {
  CursorLeaseClient::Result r = client_.Acquire(0);
  if (r.outcome == CursorLeaseClient::Result::kHeld) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      token_ = r.token;
      until_ = r.valid_until;
      lost_ = false;
    }
    *after = r.sequence;
    said_standby_ = false;
    backoff_ = std::chrono::milliseconds(100);
    log::Info(absl::StrCat(options_.what, " holds the cursor lease; ", options_.doing),
              {{"cursor", options_.cursor},
               {"holder", options_.holder},
               {"term", r.token},
               {"after_sequence", r.sequence}});
    return true;
  }
  if (r.outcome == CursorLeaseClient::Result::kTaken) {
    if (!said_standby_) {
      log::Info(absl::StrCat(options_.what, " stands by: another gateway holds the cursor lease"),
                {{"cursor", options_.cursor}, {"holder", options_.holder}, {"why", r.message}});
      said_standby_ = true;
    }
    *wait = options_.standby_retry;
    return false;
  }
  log::Warn(absl::StrCat("cannot acquire the ", options_.what, "'s cursor lease; retrying"),
            {{"cursor", options_.cursor}, {"error", r.message}});
  if (record_error_) record_error_(options_.error_kind);
  *wait = std::min(backoff_, options_.standby_retry);
  backoff_ = std::min(options_.max_backoff, backoff_ * 2);
  return false;
}

void CursorLeaseHolder::StartTerm(std::function<void()> on_lost) {
  bool renew = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    on_lost_ = std::move(on_lost);
    renew = renewing_ = leased() && token_ != 0 && !lost_;
  }
  if (renew) renewer_ = NamedThread("cursor-lease", [this] { RenewLoop(); });
}

void CursorLeaseHolder::StopRenewing() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    renewing_ = false;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
}

void CursorLeaseHolder::EndTerm(bool release) {
  StopRenewing();
  int64_t token = 0;
  bool lost = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    token = token_;
    token_ = 0;
    lost = lost_;
  }
  if (!leased() || token == 0 || lost || !release) return;
  // A clean stop: hand the lease back, so another gateway goes on at once.
  grpc::Status s = client_.Release(token, kLastCallTimeout);
  if (s.ok()) {
    log::Info(absl::StrCat(options_.what, " handed its cursor lease back"),
              {{"cursor", options_.cursor}, {"holder", options_.holder}, {"term", token}});
  } else {
    log::Warn("cannot hand the cursor lease back; it expires after its ttl",
              {{"cursor", options_.cursor}, {"error", s.error_message()}});
  }
}

void CursorLeaseHolder::Fence(v1::CommitCursorRequest* req) const {
  if (!leased()) return;
  std::lock_guard<std::mutex> lock(mu_);
  req->set_lease_token(token_);
  req->set_lease_holder(options_.holder);
}

void CursorLeaseHolder::Committed(std::chrono::steady_clock::time_point started) {
  if (!leased()) return;
  std::lock_guard<std::mutex> lock(mu_);
  until_ = std::max(until_, started + options_.ttl);
}

bool CursorLeaseHolder::Refused(const grpc::Status& s) {
  if (!leased() || s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) return false;
  Lost(s.error_message());
  return true;
}

bool CursorLeaseHolder::Valid() {
  if (!leased()) return true;
  bool lost = false, expired = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lost = lost_;
    expired = std::chrono::steady_clock::now() >= until_;
  }
  if (lost) return false;
  if (expired) Lost("the lease ran out before a renewal got through");
  return !expired;
}

bool CursorLeaseHolder::Confirm() {
  if (!leased()) return true;
  int64_t token = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_) return false;
    token = token_;
  }
  return Renew(token);
}

void CursorLeaseHolder::Lost(const std::string& why) {
  int64_t token = 0;
  std::function<void()> on_lost;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_) return;
    lost_ = true;
    token = token_;
    on_lost = on_lost_;
  }
  cv_.notify_all();  // the renewer stops
  log::Warn(absl::StrCat(options_.what, " lost its cursor lease: stops ", options_.doing,
                         ", drops what it read, and stands by"),
            {{"cursor", options_.cursor}, {"holder", options_.holder}, {"term", token}, {"why", why}});
  if (record_error_) record_error_(absl::StrCat(options_.error_kind, "_lost"));
  if (on_lost) on_lost();
}

bool CursorLeaseHolder::Renew(int64_t token) {
  CursorLeaseClient::Result r = client_.Acquire(token);
  if (r.outcome == CursorLeaseClient::Result::kHeld) {
    std::lock_guard<std::mutex> lock(mu_);
    until_ = std::max(until_, r.valid_until);
    return true;
  }
  if (r.outcome == CursorLeaseClient::Result::kTaken) {
    Lost(r.message);
    return false;
  }
  log::Warn(absl::StrCat("cannot renew the ", options_.what, "'s cursor lease"),
            {{"cursor", options_.cursor}, {"error", r.message}});
  bool expired = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    expired = std::chrono::steady_clock::now() >= until_;
  }
  if (expired) Lost(absl::StrCat("no renewal got through within the ttl: ", r.message));
  return false;
}

void CursorLeaseHolder::RenewLoop() {
  const auto period = std::max(options_.ttl / 3, std::chrono::milliseconds(1));
  while (true) {
    int64_t token = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, period, [this] { return !renewing_ || lost_; });
      if (!renewing_ || lost_) return;
      token = token_;
    }
    Renew(token);  // once lost, the wait above returns at once and the loop ends
  }
}

}  // namespace switchboard::gateway
