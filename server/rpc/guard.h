#pragma once
// The checks every RPC makes before its handler runs: authentication and
// the role its method needs (server/rpc/method_rules.cc), request size,
// unknown fields, Timestamps in range, Struct values with a kind, and a
// request_id on every request
// that has one. Handlers call Admit() first.
// And the helpers every unary handler ends with (FinishNow, Completer,
// SyncCall, AsyncCall): errors mapped once, replays marked once.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <type_traits>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/auth.h"
#include "common/status.h"
#include "server/core/reply.h"

namespace switchboard::rpc {

class Guard {
 public:
  Guard(const TokenAuthenticator* auth, size_t max_request_bytes)
      : auth_(auth), max_request_bytes_(max_request_bytes) {}

  // The role comes from the method rule of the request's type; `at_least`
  // raises it for one call (a SubmitBatch holding a key roll).
  absl::StatusOr<Principal> Admit(grpc::CallbackServerContext* ctx, const google::protobuf::Message& request,
                                  Role at_least = Role::kReader) const;

  size_t max_request_bytes() const { return max_request_bytes_; }

 private:
  const TokenAuthenticator* auth_;
  size_t max_request_bytes_;
};

// INVALID_ARGUMENT naming the first unknown field found (e.g.
// "envelope.data: unknown field number 99"), the first enum field holding a
// number its enum does not declare (list filters among them), the first
// google.protobuf.Timestamp outside its range (years 1 to 9999, nanos
// 0..999,999,999), or the first google.protobuf.Value (in a Struct) that
// sets no kind (e.g. 'operation_context.fields["a"].list_value.values[2]:
// a Struct value must set one kind ...'), anywhere in the message. Map
// entries are named by their key: fields["a"].
absl::Status CheckFields(const google::protobuf::Message& message);

// INVALID_ARGUMENT for an empty request_id on a request that has one (but
// not when its method rule takes the key from the payload, as Publish does).
absl::Status CheckRequestId(const google::protobuf::Message& request);

// The answer to request bytes that do not parse as `type` for `method`.
absl::Status UnparsableRequest(absl::string_view method, absl::string_view type);

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

// The body of a unary RPC whose engine answers at once: admit, then finish with fn(principal).
template <class Resp, class Req, class Fn>
grpc::ServerUnaryReactor* SyncCall(grpc::CallbackServerContext* ctx, const Guard& guard, const Req& req,
                                   Resp* resp, Fn fn) {
  auto principal = guard.Admit(ctx, req);
  if (!principal.ok()) return FinishNow<Resp>(ctx, principal.status(), resp);
  return FinishNow<Resp>(ctx, fn(*principal), resp);
}

// The same for an engine that answers later: fn(principal, done).
template <class Resp, class Req, class Fn>
grpc::ServerUnaryReactor* AsyncCall(grpc::CallbackServerContext* ctx, const Guard& guard, const Req& req,
                                    Resp* resp, Fn fn, Role at_least = Role::kReader) {
  auto principal = guard.Admit(ctx, req, at_least);
  if (!principal.ok()) return FinishNow<Resp>(ctx, principal.status(), resp);
  auto* reactor = ctx->DefaultReactor();
  fn(*principal, Completer(ctx, reactor, resp));
  return reactor;
}

}  // namespace switchboard::rpc
