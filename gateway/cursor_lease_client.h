#pragma once
// The gateway's side of a cursor's lease (CursorService's
// AcquireCursorLease and ReleaseCursorLease, proto/switchboard/v1/
// cursors.proto): several gateways work from one cursor one at a time, the
// holder of its lease (cursor_lease_holder.h). Blocking unary calls, each
// with a deadline of a third of the ttl (at least 1 s), made from the
// caller's own threads.

#include <chrono>
#include <cstdint>
#include <string>

#include "clients/lib/client.h"

namespace switchboard::gateway {

// A holder id unique per process (and per call): "gateway/<host>/<pid>/<8
// hex digits>".
std::string NewLeaseHolder();

class CursorLeaseClient {
 public:
  // `ttl_key` is the config key whose 0 turns the lease off, named when
  // switchboardd predates leases.
  CursorLeaseClient(const client::Connection* conn, std::string cursor, std::string holder,
                    std::chrono::milliseconds ttl, std::string ttl_key);

  struct Result {
    enum Outcome {
      kHeld,   // the lease is this holder's: token, sequence and valid_until are set
      kTaken,  // another holder has it, or (renewing) this holder lost it
      kError,  // no answer (switchboardd unreachable, an old switchboardd, ...)
    };
    Outcome outcome = kError;
    std::string message;  // why, for kTaken and kError
    int64_t token = 0;
    // The cursor's sequence when granted: resume after it.
    int64_t sequence = 0;
    // When the lease runs out at the latest, on this host's steady clock:
    // the call's start plus the ttl (the store stamped its expiry later).
    std::chrono::steady_clock::time_point valid_until;
  };

  // Acquires the lease (token 0) or renews lease `token`.
  Result Acquire(int64_t token) const;
  // Hands lease `token` back (a clean stop), with a deadline of `timeout`.
  grpc::Status Release(int64_t token, std::chrono::milliseconds timeout) const;

  const std::string& holder() const { return holder_; }
  std::chrono::milliseconds ttl() const { return ttl_; }

 private:
  const client::Connection* conn_;
  const std::string cursor_;
  const std::string holder_;
  const std::chrono::milliseconds ttl_;
  const std::string ttl_key_;
};

}  // namespace switchboard::gateway
