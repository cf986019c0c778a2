#pragma once
// The lease of a cursor (CursorService.AcquireCursorLease, and
// CommitCursor's lease_token: proto/switchboard/v1/cursors.proto), free of
// gRPC. Several gateways publish from one cursor one at a time: the holder
// of its lease.
//
// A cursor's lease is one job of the store's JobQueue (job.h), of kind
// "cursor.lease/<name>" and key <name>, that never finishes: a kind per
// cursor, so that a claim of the kind takes that cursor's job alone. Its
// lease is the cursor's: the job's owner is the holder, its fencing token
// the lease's token (it grows with every claim), its expiry the store's
// clock (the database's with PostgreSQL, so every replica agrees). Its
// payload is the holder's ttl in microseconds, which a fenced commit renews
// the lease by. So the lease gets the queue's guarantees for free: a claim
// only takes an expired lease, and a write naming a lease that was taken
// over is refused ("lease lost") atomically with the rest of its mutation.
//
// These calls read the lease job first (JobQueue::FindUnfinished, a store
// read like Store::GetResource, on the caller's thread) and then answer
// through `done`, on the store's completion thread.

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/job.h"
#include "server/core/store.h"
#include "switchboard/v1/cursors.pb.h"

namespace switchboard::cursors {

// Lease ttls a holder may ask for.
inline constexpr absl::Duration kMinLeaseTtl = absl::Seconds(1);
inline constexpr absl::Duration kMaxLeaseTtl = absl::Minutes(5);

// The job kind of `name`'s lease.
std::string LeaseJobKind(absl::string_view name);

// INVALID_ARGUMENT naming the field: the name, the holder (1-256 printable
// ASCII characters), the ttl (kMinLeaseTtl..kMaxLeaseTtl), the token (>= 0).
absl::Status ValidateAcquire(const v1::AcquireCursorLeaseRequest& request);

// AcquireCursorLease (see the proto): grants or renews the lease, with the
// cursor's sequence read in the same transaction as the lease's write.
void AcquireLease(core::Store* store, const v1::AcquireCursorLeaseRequest& request,
                  std::function<void(absl::StatusOr<v1::CursorLease>)> done);

// ReleaseCursorLease (see the proto): the lease READY at once, on the
// store's clock.
void ReleaseLease(core::Store* store, const v1::ReleaseCursorLeaseRequest& request,
                  std::function<void(absl::StatusOr<v1::ReleaseCursorLeaseResponse>)> done);

// For a commit fenced by `holder`'s lease `token` on cursor `name`: the job
// write to add to the commit's Mutation (a heartbeat of that lease by its
// ttl, so the check and the commit are one transaction), or the "lease
// lost" refusal when the lease is known to be lost already. A store read.
absl::StatusOr<core::JobWrite> FenceCommit(core::JobQueue& queue, absl::string_view name, absl::string_view holder,
                                           int64_t token);

// The store's refusal of a fenced write, reworded to name the cursor and
// the holder (FAILED_PRECONDITION "lease lost: ..."); any other status as
// it is.
absl::Status ExplainRefusal(absl::Status s, absl::string_view name, absl::string_view holder, int64_t token);

}  // namespace switchboard::cursors
