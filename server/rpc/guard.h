#pragma once
// The checks every RPC makes before its handler runs: authentication and
// role, request size, and unknown fields. Handlers call Admit() first.
// And the helpers every unary handler ends with (FinishNow, Completer,
// SyncCall, AsyncCall): errors mapped once, replays marked once.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <type_traits>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "common/status.h"
#include "server/core/reply.h"

namespace switchboard::rpc {

class Guard {
 public:
  Guard(const TokenAuthenticator* auth, size_t max_request_bytes)
      : auth_(auth), max_request_bytes_(max_request_bytes) {}

  absl::StatusOr<Principal> Admit(grpc::CallbackServerContext* ctx, const google::protobuf::Message& request,
                                  Role needed) const;

  size_t max_request_bytes() const { return max_request_bytes_; }

 private:
  const TokenAuthenticator* auth_;
  size_t max_request_bytes_;
};

// INVALID_ARGUMENT naming the first unknown field found (e.g.
// "envelope.data: unknown field number 99"), anywhere in the message.
absl::Status CheckNoUnknownFields(const google::protobuf::Message& message);

// Trailing metadata of a mutating call answered from an earlier request with
// the same request_id (core::Reply::replayed): nothing was done again.
inline constexpr char kReplayedTrailer[] = "x-switchboard-replayed";

// The one place where a unary call ends: the error through ToGrpcStatus, or
// the response, with the kReplayedTrailer when the answer was replayed.
template <class Resp>
void FinishUnary(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor, core::Reply<Resp> result,
                 Resp* out) {
  if (!result.ok()) {
    reactor->Finish(ToGrpcStatus(result.status()));
    return;
  }
  if (result.replayed()) ctx->AddTrailingMetadata(kReplayedTrailer, "true");
  *out = std::move(*result);
  reactor->Finish(grpc::Status::OK);
}

// Returns a callback that completes a unary reactor with a Reply (or a
// StatusOr, which converts to one).
template <class Resp>
std::function<void(core::Reply<Resp>)> Completer(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                                                 Resp* out) {
  return [ctx, reactor, out](core::Reply<Resp> result) { FinishUnary(ctx, reactor, std::move(result), out); };
}

// Finishes a unary call at once.
template <class Resp>
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, std::type_identity_t<core::Reply<Resp>> result,
                                    Resp* out) {
  auto* reactor = ctx->DefaultReactor();
  FinishUnary(ctx, reactor, std::move(result), out);
  return reactor;
}

// The body of a unary RPC whose engine answers at once: admit with `role`,
// then finish with fn(principal).
template <class Resp, class Req, class Fn>
grpc::ServerUnaryReactor* SyncCall(grpc::CallbackServerContext* ctx, const Guard& guard, const Req& req,
                                   Resp* resp, Role role, Fn fn) {
  auto principal = guard.Admit(ctx, req, role);
  if (!principal.ok()) return FinishNow<Resp>(ctx, principal.status(), resp);
  return FinishNow<Resp>(ctx, fn(*principal), resp);
}

// The same for an engine that answers later: fn(principal, done).
template <class Resp, class Req, class Fn>
grpc::ServerUnaryReactor* AsyncCall(grpc::CallbackServerContext* ctx, const Guard& guard, const Req& req,
                                    Resp* resp, Role role, Fn fn) {
  auto principal = guard.Admit(ctx, req, role);
  if (!principal.ok()) return FinishNow<Resp>(ctx, principal.status(), resp);
  auto* reactor = ctx->DefaultReactor();
  fn(*principal, Completer(ctx, reactor, resp));
  return reactor;
}

}  // namespace switchboard::rpc
