#include "server/cursors/cursor_lease.h"

#include <memory>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "server/core/job_queue.h"
#include "server/cursors/cursor_engine.h"

namespace switchboard::cursors {
namespace {

constexpr char kLeaseKindPrefix[] = "cursor.lease/";
constexpr size_t kMaxHolder = 256;
// A fenced commit's renewal when the payload holds no ttl (a crash between
// a claim and its first write: the holder never got that lease).
constexpr absl::Duration kDefaultTtl = absl::Seconds(10);
constexpr char kLeaseLost[] = "lease lost: ";

absl::Duration TtlOf(const v1::AcquireCursorLeaseRequest& r) {
  return absl::Seconds(r.ttl().seconds()) + absl::Nanoseconds(r.ttl().nanos());
}

std::string TimeText(int64_t us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMicros(us), absl::UTCTimeZone());
}

// True while `job` is the lease `token` of `holder` (expired or not: an
// expired lease nobody took over is still good).
bool Holds(const std::optional<core::Job>& job, absl::string_view holder, int64_t token) {
  return job && job->state == core::JobState::kRunning && job->lease.owner == holder && job->lease.token == token;
}

// Who holds the lease now, for a message.
std::string HeldBy(const std::optional<core::Job>& job) {
  if (!job || job->state != core::JobState::kRunning) {
    return "nobody holds it now (never acquired, or freed by a restart of a single switchboardd)";
  }
  return absl::StrCat("it is held by '", Echo(job->lease.owner), "' (token ", job->lease.token, ") until ",
                      TimeText(job->lease.expires_us));
}

absl::Status Lost(absl::string_view name, absl::string_view holder, int64_t token, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(kLeaseLost, "'", Echo(holder), "' does not hold the lease of ",
                                                    name, " with token ", token, ": ", why,
                                                    "; nothing was written: acquire it again"));
}

// Writes `lease` renewed by `ttl` (with the ttl kept in the job for fenced
// commits), reading the cursor's sequence in the same transaction.
void Grant(core::Store* store, const v1::AcquireCursorLeaseRequest& request, const core::JobLease& lease,
           std::function<void(absl::StatusOr<v1::CursorLease>)> done) {
  const absl::Duration ttl = TtlOf(request);
  auto sequence = std::make_shared<int64_t>(0);
  core::Mutation m;
  m.jobs.push_back(core::JobWrite::Checkpoint(lease, absl::StrCat(absl::ToInt64Microseconds(ttl)), ttl));
  m.prepare = [name = request.name(), sequence](core::TxnReader& txn, core::Mutation&) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<std::string> value, txn.Get(kCursorKind, name));
    if (!value) return absl::OkStatus();
    v1::Cursor c;
    if (!c.ParseFromString(*value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
    *sequence = c.sequence();
    return absl::OkStatus();
  };
  store->CommitAsync(std::move(m), [request, token = lease.token, sequence,
                                    done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    if (!r.ok()) return done(ExplainRefusal(r.status(), request.name(), request.holder(), token));
    if (r->jobs.empty()) return done(absl::InternalError("the lease write came back without its lease"));
    const core::JobLease& now = r->jobs.front();
    v1::CursorLease out;
    out.set_name(request.name());
    out.set_holder(request.holder());
    out.set_token(now.token);
    out.mutable_expire_time()->set_seconds(now.expires_us / 1000000);
    out.mutable_expire_time()->set_nanos(static_cast<int32_t>(now.expires_us % 1000000) * 1000);
    out.set_sequence(*sequence);
    done(std::move(out));
  });
}

}  // namespace

std::string LeaseJobKind(absl::string_view name) { return absl::StrCat(kLeaseKindPrefix, name); }

absl::Status ValidateAcquire(const v1::AcquireCursorLeaseRequest& request) {
  RETURN_IF_ERROR(ValidateCursorName(request.name()));
  if (request.holder().empty()) {
    return absl::InvalidArgumentError("holder: required, a unique id of the caller, e.g. gateway/<host>/<pid>/<random>");
  }
  if (request.holder().size() > kMaxHolder) {
    return absl::InvalidArgumentError(absl::StrCat("holder: at most ", kMaxHolder, " characters"));
  }
  for (char c : request.holder()) {
    if (c < 0x20 || c > 0x7e) return absl::InvalidArgumentError("holder: printable ASCII characters only");
  }
  const absl::Duration ttl = TtlOf(request);
  if (ttl < kMinLeaseTtl || ttl > kMaxLeaseTtl) {
    return absl::InvalidArgumentError(absl::StrCat("ttl is ", absl::FormatDuration(ttl), "; give between ",
                                                   absl::FormatDuration(kMinLeaseTtl), " and ",
                                                   absl::FormatDuration(kMaxLeaseTtl), ", e.g. 10s"));
  }
  if (request.token() < 0) return absl::InvalidArgumentError("token: must not be negative (0: acquire)");
  return absl::OkStatus();
}

void AcquireLease(core::Store* store, const v1::AcquireCursorLeaseRequest& request,
                  std::function<void(absl::StatusOr<v1::CursorLease>)> done) {
  if (absl::Status s = ValidateAcquire(request); !s.ok()) return done(s);
  const std::string kind = LeaseJobKind(request.name());
  absl::StatusOr<std::optional<core::Job>> found = store->jobs().FindUnfinished(kind, request.name());
  if (!found.ok()) return done(found.status());

  if (request.token() > 0) {  // a renewal of exactly that lease
    if (!Holds(*found, request.holder(), request.token())) {
      return done(Lost(request.name(), request.holder(), request.token(), HeldBy(*found)));
    }
    return Grant(store, request, (*found)->lease, std::move(done));
  }
  if (*found && (*found)->state == core::JobState::kRunning && (*found)->lease.owner == request.holder()) {
    return Grant(store, request, (*found)->lease, std::move(done));  // held already: the same lease, renewed
  }

  // Nobody holds it, or its holder let it expire: claim it. The claim takes
  // the job only if its lease expired (or it is READY), on the store's clock.
  std::optional<core::Job> seen = *found;
  auto claim = [store, request, kind, seen, done = std::move(done)](absl::Status enqueued) mutable {
    if (!enqueued.ok()) return done(enqueued);
    store->jobs().Claim(
        kind, request.holder(), 1, TtlOf(request),
        [store, request, seen, done = std::move(done)](absl::StatusOr<std::vector<core::Job>> r) mutable {
          if (!r.ok()) return done(r.status());
          if (r->empty()) {
            return done(absl::FailedPreconditionError(
                absl::StrCat("the lease of ", request.name(), " is taken: ",
                             seen && seen->state == core::JobState::kRunning ? HeldBy(seen)
                                                                               : "another holder just acquired it",
                             "; stand by and try again after it")));
          }
          Grant(store, request, r->front().lease, std::move(done));
        });
  };
  if (*found) return claim(absl::OkStatus());
  // The first acquire of this cursor's lease: make its job (the key keeps it
  // one, whoever else makes it at the same time), then claim it.
  store->jobs().Enqueue(kind, request.name(), "", absl::InfinitePast(),
                        [claim = std::move(claim)](absl::StatusOr<core::JobLease> r) mutable { claim(r.status()); });
}

void ReleaseLease(core::Store* store, const v1::ReleaseCursorLeaseRequest& request,
                  std::function<void(absl::StatusOr<v1::ReleaseCursorLeaseResponse>)> done) {
  if (absl::Status s = ValidateCursorName(request.name()); !s.ok()) return done(s);
  if (request.holder().empty()) return done(absl::InvalidArgumentError("holder: required, the lease's holder"));
  if (request.token() < 1) return done(absl::InvalidArgumentError("token: required, the lease's token (1 or more)"));
  absl::StatusOr<std::optional<core::Job>> found =
      store->jobs().FindUnfinished(LeaseJobKind(request.name()), request.name());
  if (!found.ok()) return done(found.status());
  if (!Holds(*found, request.holder(), request.token())) {
    return done(Lost(request.name(), request.holder(), request.token(), HeldBy(*found)));
  }
  core::Mutation m;
  // READY now on the store's clock (run_at 0); the next claim bumps the token.
  m.jobs.push_back(core::JobWrite::RetryAt((*found)->lease, absl::InfinitePast(), "released by its holder"));
  store->CommitAsync(std::move(m), [request, done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    if (!r.ok()) return done(ExplainRefusal(r.status(), request.name(), request.holder(), request.token()));
    done(v1::ReleaseCursorLeaseResponse());
  });
}

absl::StatusOr<core::JobWrite> FenceCommit(core::JobQueue& queue, absl::string_view name, absl::string_view holder,
                                           int64_t token) {
  ASSIGN_OR_RETURN(std::optional<core::Job> found, queue.FindUnfinished(LeaseJobKind(name), std::string(name)));
  // Tokens only grow: a lease seen lost stays lost.
  if (!Holds(found, holder, token)) return Lost(name, holder, token, HeldBy(found));
  int64_t ttl_us = 0;
  absl::Duration ttl = absl::SimpleAtoi(found->payload, &ttl_us) && ttl_us > 0 ? absl::Microseconds(ttl_us)
                                                                               : kDefaultTtl;
  return core::JobWrite::Heartbeat(found->lease, ttl);
}

absl::Status ExplainRefusal(absl::Status s, absl::string_view name, absl::string_view holder, int64_t token) {
  if (!absl::IsFailedPrecondition(s) || !absl::StartsWith(s.message(), kLeaseLost)) return s;
  // The store's words name the new holder: "job N (owner A, token 1) was
  // claimed again (owner B, token 2); ...".
  absl::string_view why = s.message().substr(strlen(kLeaseLost));
  if (size_t cut = why.find(';'); cut != absl::string_view::npos) why = why.substr(0, cut);
  return Lost(name, holder, token, absl::StrCat("taken over meanwhile: ", why));
}

}  // namespace switchboard::cursors
