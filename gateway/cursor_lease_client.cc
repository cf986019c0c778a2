#include "gateway/cursor_lease_client.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/uuid.h"
#include "switchboard/v1/cursors.grpc.pb.h"

namespace switchboard::gateway {

std::string NewLeaseHolder() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat("gateway/", host[0] ? host : "localhost", "/", getpid(), "/",
                      absl::Hex(UniqueRandom64() & 0xffffffffu, absl::kZeroPad8));
}

CursorLeaseClient::CursorLeaseClient(const client::Connection* conn, std::string cursor, std::string holder,
                                     std::chrono::milliseconds ttl, std::string ttl_key)
    : conn_(conn), cursor_(std::move(cursor)), holder_(std::move(holder)), ttl_(ttl), ttl_key_(std::move(ttl_key)) {}

CursorLeaseClient::Result CursorLeaseClient::Acquire(int64_t token) const {
  const auto started = std::chrono::steady_clock::now();
  auto ctx = conn_->NewUnaryContext();
  client::SetDeadline(ctx.get(), absl::Milliseconds(std::max<int64_t>(1000, ttl_.count() / 3)));
  v1::AcquireCursorLeaseRequest req;
  req.set_name(cursor_);
  req.set_holder(holder_);
  req.mutable_ttl()->set_seconds(ttl_.count() / 1000);
  req.mutable_ttl()->set_nanos(static_cast<int32_t>(ttl_.count() % 1000) * 1000000);
  req.set_token(token);
  v1::CursorLease lease;
  grpc::Status s = v1::CursorService::NewStub(conn_->channel())->AcquireCursorLease(ctx.get(), req, &lease);
  Result r;
  if (s.ok()) {
    r.outcome = Result::kHeld;
    r.token = lease.token();
    r.sequence = lease.sequence();
    r.valid_until = started + ttl_;
    return r;
  }
  r.outcome = s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ? Result::kTaken : Result::kError;
  r.message = s.error_code() == grpc::StatusCode::UNIMPLEMENTED
                  ? absl::StrCat(s.error_message(), " (switchboardd predates cursor leases: upgrade it, or set ",
                                 ttl_key_, " to 0)")
                  : s.error_message();
  return r;
}

grpc::Status CursorLeaseClient::Release(int64_t token, std::chrono::milliseconds timeout) const {
  auto ctx = conn_->NewUnaryContext();
  client::SetDeadline(ctx.get(), absl::Milliseconds(timeout.count()));
  v1::ReleaseCursorLeaseRequest req;
  req.set_name(cursor_);
  req.set_holder(holder_);
  req.set_token(token);
  v1::ReleaseCursorLeaseResponse resp;
  return v1::CursorService::NewStub(conn_->channel())->ReleaseCursorLease(ctx.get(), req, &resp);
}

}  // namespace switchboard::gateway
