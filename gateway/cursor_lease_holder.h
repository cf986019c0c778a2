#pragma once
// One gateway's turn at a cursor's lease, for a loop that works from that
// cursor (the Event Grid publisher, the status queue emitter): of several
// gateways on one cursor, the holder of its lease works and the others stand
// by (docs/gateway.md, "Several gateways, one publisher").
//
// The loop, on a thread of its own:
//  1. Begin until it says go (waiting what it says in between: a try
//     every `standby_retry` while another gateway holds the lease, one log
//     line when it starts standing by; a capped backoff on errors);
//  2. StartTerm(on_lost): renews the lease every third of the ttl on a
//     thread of its own while the loop works from the sequence Begin gave;
//     each commit goes through Commit (fenced by the token; its answer
//     renews the lease or ends it); each send waits for Valid(); after the loop's
//     watch reconnects, Confirm() renews before anything more is sent;
//  3. when the lease is lost (a renewal or a commit refused: another gateway
//     took it; or no renewal got through within the ttl), on_lost is called
//     once, and the loop ends its term: stops sending, drops what it read;
//  4. EndTerm: stops renewing and, after a clean stop, hands the lease back,
//     so another gateway goes on at once.
// With a ttl of 0 there is no lease: Begin reads the cursor, commits are
// not fenced, and Valid is always true.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "clients/lib/client.h"
#include "gateway/cursor_lease_client.h"
#include "switchboard/v1/cursors.pb.h"

namespace switchboard::gateway {

struct CursorLeaseOptions {
  // "cursors/<id>".
  std::string cursor;
  // The holder id; empty: NewLeaseHolder() (unique per process).
  std::string holder;
  // 0: no lease.
  std::chrono::milliseconds ttl{10000};
  // While another holder has the lease: how often to try again.
  std::chrono::milliseconds standby_retry{2000};
  // Most time between tries after errors.
  std::chrono::milliseconds max_backoff{5000};
  // Who and what, in log lines ("<what> holds the cursor lease; <doing>"),
  // e.g. "event grid publisher" and "publishing".
  std::string what;
  std::string doing;
  // The config key whose 0 turns the lease off, named in errors, e.g.
  // "eventgrid_cursor_lease_seconds".
  std::string ttl_key;
  // Error kind of a failed acquire, e.g. "eventgrid_cursor_lease";
  // "<kind>_lost" counts lost leases.
  std::string error_kind;
  // Error kind of a commit that did not get through, e.g.
  // "eventgrid_cursor_commit".
  std::string commit_error_kind;
};

class CursorLeaseHolder {
 public:
  // `record_error(kind)` counts an error (the gateway's errors_total).
  CursorLeaseHolder(const client::Connection* conn, CursorLeaseOptions options,
                    std::function<void(const std::string& kind)> record_error);
  ~CursorLeaseHolder();

  bool leased() const { return options_.ttl.count() > 0; }
  const std::string& holder() const { return options_.holder; }
  // True while the lease is held and not known lost.
  bool held() const;

  // Where the next term starts, one try (a blocking call): with a lease,
  // acquiring it; without one, the cursor as stored (0 when it does not
  // exist yet). True: work from after `*after`. False: wait `*wait` (or
  // until stopping) before the next try.
  bool Begin(int64_t* after, std::chrono::milliseconds* wait);
  // The loop's step 1 until `stop`: Begin, then `term(after)` when it says
  // go (the term calls StartTerm and EndTerm), else `sleep(wait)` (which
  // returns early once `stop` is set). Runs on the loop's thread.
  void RunTerms(const std::atomic<bool>& stop, const std::function<void(std::chrono::milliseconds)>& sleep,
                const std::function<void(int64_t after)>& term);
  // Starts renewing (no-op without a lease). `on_lost` is called once, from
  // whichever thread finds out, when the lease is lost.
  void StartTerm(std::function<void()> on_lost);
  // Stops renewing (idempotent).
  void StopRenewing();
  // Ends the term: stops renewing and, if `release` and the lease was not
  // lost, hands it back (2 s deadline). The holder can Begin again.
  void EndTerm(bool release);

  // Commits `sequence` to the cursor (blocking calls), fenced by the lease:
  // up to `attempts` tries, `sleep`ing 100 ms, 200 ms, ... between them
  // (`sleep` returns early once the loop halts). Once `halt` is set, one
  // last try with a 2 s deadline. True: committed, and `*committed` is the
  // cursor's sequence (a fenced commit renews the lease too). False: refused
  // because the lease is lost (Lost was called: the next holder commits),
  // or it did not get through (counted as `commit_error_kind`; a later
  // commit covers it, and a restart before that sends again: at least once).
  bool Commit(int64_t sequence, int attempts, const std::atomic<bool>& halt,
              const std::function<void(std::chrono::milliseconds)>& sleep, int64_t* committed);
  // False (and Lost) once the lease may have run out without a renewal:
  // another gateway may hold it, send nothing more.
  bool Valid();
  // After the loop's watch reconnects, before it sends anything read on the
  // new stream: renews the lease now (one blocking try). The server may have
  // restarted meanwhile, and a restarted switchboardd holds no leases, so
  // sending first would send under a lease nobody holds (and send it again
  // after the refused commit). True: held (or no lease). False: lost (Lost
  // was called), or the server did not answer: wait, then try again.
  bool Confirm();
  // The lease is gone (`why`): logs once, counts, calls on_lost.
  void Lost(const std::string& why);

 private:
  // One renewal with `token` (a blocking call). True: renewed. False: not;
  // Lost was called if it was refused, or if the ttl ran out without one
  // getting through. Used by RenewLoop and Confirm.
  bool Renew(int64_t token);
  void RenewLoop();
  // Begin with a lease: one try at acquiring it.
  bool Acquire(int64_t* after, std::chrono::milliseconds* wait);
  // Begin without a lease: the cursor as stored.
  bool LoadCursor(int64_t* after, std::chrono::milliseconds* wait);
  // Puts the lease's token and holder on a commit.
  void Fence(v1::CommitCursorRequest* req) const;
  // A fenced commit that started at `started` succeeded: it renewed the
  // lease too.
  void Committed(std::chrono::steady_clock::time_point started);
  // True if a failed commit was refused because the lease is lost (then
  // Lost has been called).
  bool Refused(const grpc::Status& s);

  const client::Connection* conn_;
  CursorLeaseOptions options_;
  std::function<void(const std::string&)> record_error_;
  CursorLeaseClient client_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_: the lease held (token 0: none), when it runs out at the
  // latest unless renewed, and whether it was lost this term.
  int64_t token_ = 0;
  std::chrono::steady_clock::time_point until_;
  bool lost_ = false;
  bool renewing_ = false;
  std::function<void()> on_lost_;
  // Begin's state between tries.
  bool said_standby_ = false;
  std::chrono::milliseconds backoff_{100};
  std::thread renewer_;
};

}  // namespace switchboard::gateway
