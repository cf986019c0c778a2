#include "server/cursors/cursor_service.h"

namespace switchboard::cursors {

grpc::ServerUnaryReactor* CursorServiceImpl::GetCursor(grpc::CallbackServerContext* ctx,
                                                       const v1::GetCursorRequest* req, v1::Cursor* resp) {
  auto principal = guard_->Admit(ctx, *req);
  if (!principal.ok()) return rpc::FinishNow<v1::Cursor>(ctx, principal.status(), resp);
  return rpc::FinishNow(ctx, engine_->Get(req->name()), resp);
}

grpc::ServerUnaryReactor* CursorServiceImpl::CommitCursor(grpc::CallbackServerContext* ctx,
                                                          const v1::CommitCursorRequest* req, v1::Cursor* resp) {
  auto principal = guard_->Admit(ctx, *req);
  if (!principal.ok()) return rpc::FinishNow<v1::Cursor>(ctx, principal.status(), resp);
  auto* reactor = ctx->DefaultReactor();
  engine_->Commit(*req, rpc::Completer(ctx, reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* CursorServiceImpl::AcquireCursorLease(grpc::CallbackServerContext* ctx,
                                                                const v1::AcquireCursorLeaseRequest* req,
                                                                v1::CursorLease* resp) {
  auto principal = guard_->Admit(ctx, *req);
  if (!principal.ok()) return rpc::FinishNow<v1::CursorLease>(ctx, principal.status(), resp);
  auto* reactor = ctx->DefaultReactor();
  engine_->AcquireLease(*req, rpc::Completer(ctx, reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* CursorServiceImpl::ReleaseCursorLease(grpc::CallbackServerContext* ctx,
                                                                const v1::ReleaseCursorLeaseRequest* req,
                                                                v1::ReleaseCursorLeaseResponse* resp) {
  auto principal = guard_->Admit(ctx, *req);
  if (!principal.ok()) return rpc::FinishNow<v1::ReleaseCursorLeaseResponse>(ctx, principal.status(), resp);
  auto* reactor = ctx->DefaultReactor();
  engine_->ReleaseLease(*req, rpc::Completer(ctx, reactor, resp));
  return reactor;
}

}  // namespace switchboard::cursors
