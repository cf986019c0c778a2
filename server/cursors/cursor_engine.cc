#include "server/cursors/cursor_engine.h"

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "server/cursors/cursor_lease.h"

namespace switchboard::cursors {
namespace {

constexpr char kPrefix[] = "cursors/";

}  // namespace

absl::Status ValidateCursorName(absl::string_view name) {
  if (!absl::StartsWith(name, kPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("name '", name, "' must be cursors/{id}"));
  }
  absl::string_view id = name.substr(strlen(kPrefix));
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError("name: the id after cursors/ must be 1-128 characters");
  }
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return absl::InvalidArgumentError("name: the id after cursors/ may only hold [A-Za-z0-9._-]");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Cursor> CursorEngine::Get(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateCursorName(name));
  ASSIGN_OR_RETURN(std::optional<std::string> value, store_->GetResource(kCursorKind, name));
  if (!value) return absl::NotFoundError(absl::StrCat("cursor '", name, "' was never committed"));
  v1::Cursor c;
  if (!c.ParseFromString(*value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
  return c;
}

void CursorEngine::Commit(const v1::CommitCursorRequest& request,
                          std::function<void(absl::StatusOr<v1::Cursor>)> done) {
  if (auto s = ValidateCursorName(request.name()); !s.ok()) return done(s);
  if (request.sequence() < 0) return done(absl::InvalidArgumentError("sequence: must not be negative"));
  if (request.lease_token() < 0) return done(absl::InvalidArgumentError("lease_token: must not be negative"));
  const bool fenced = request.lease_token() > 0 || !request.lease_holder().empty();
  if (fenced && request.lease_holder().empty()) {
    return done(absl::InvalidArgumentError("lease_holder: required with lease_token (the holder the lease was granted to)"));
  }
  if (fenced && request.lease_token() == 0) {
    return done(absl::InvalidArgumentError(
        "lease_token: required with lease_holder (the token of the holder's lease; leave both unset for an unfenced commit)"));
  }
  auto result = std::make_shared<v1::Cursor>();
  core::Mutation m;
  if (fenced) {
    absl::StatusOr<core::JobWrite> check =
        FenceCommit(store_->jobs(), request.name(), request.lease_holder(), request.lease_token());
    if (!check.ok()) return done(check.status());
    m.jobs.push_back(*std::move(check));
  }
  m.prepare = [request, result](core::TxnReader& txn, core::Mutation& self) -> absl::Status {
    if (request.sequence() >= txn.NextSequence()) {
      return absl::OutOfRangeError(absl::StrCat("sequence ", request.sequence(), " is beyond the head of the log (",
                                                txn.NextSequence() - 1, ")"));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> old, txn.Get(kCursorKind, request.name()));
    if (old && result->ParseFromString(*old) && result->sequence() >= request.sequence()) {
      return absl::OkStatus();  // never backwards
    }
    result->Clear();
    result->set_name(request.name());
    result->set_sequence(request.sequence());
    int64_t now_us = absl::ToUnixMicros(absl::Now());
    result->mutable_update_time()->set_seconds(now_us / 1000000);
    result->mutable_update_time()->set_nanos(static_cast<int32_t>(now_us % 1000000) * 1000);
    self.writes.push_back({kCursorKind, request.name(), result->SerializeAsString(), false});
    return absl::OkStatus();
  };
  store_->CommitAsync(std::move(m), [request, fenced, result,
                                     done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    if (!r.ok() && fenced) {
      return done(ExplainRefusal(r.status(), request.name(), request.lease_holder(), request.lease_token()));
    }
    if (!r.ok()) return done(r.status());
    done(*result);
  });
}

void CursorEngine::AcquireLease(const v1::AcquireCursorLeaseRequest& request,
                                std::function<void(absl::StatusOr<v1::CursorLease>)> done) {
  cursors::AcquireLease(store_, request, std::move(done));
}

void CursorEngine::ReleaseLease(const v1::ReleaseCursorLeaseRequest& request,
                                std::function<void(absl::StatusOr<v1::ReleaseCursorLeaseResponse>)> done) {
  cursors::ReleaseLease(store_, request, std::move(done));
}

}  // namespace switchboard::cursors
