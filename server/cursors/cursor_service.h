#pragma once
// gRPC adapter of CursorService: admits the call, hands it to CursorEngine.

#include "server/cursors/cursor_engine.h"
#include "server/rpc/guard.h"
#include "switchboard/v1/cursors.grpc.pb.h"

namespace switchboard::cursors {

class CursorServiceImpl final : public v1::CursorService::CallbackService {
 public:
  CursorServiceImpl(const rpc::Guard* guard, CursorEngine* engine) : guard_(guard), engine_(engine) {}

  grpc::ServerUnaryReactor* GetCursor(grpc::CallbackServerContext* ctx, const v1::GetCursorRequest* req,
                                      v1::Cursor* resp) override;
  grpc::ServerUnaryReactor* CommitCursor(grpc::CallbackServerContext* ctx, const v1::CommitCursorRequest* req,
                                         v1::Cursor* resp) override;
  grpc::ServerUnaryReactor* AcquireCursorLease(grpc::CallbackServerContext* ctx,
                                               const v1::AcquireCursorLeaseRequest* req,
                                               v1::CursorLease* resp) override;
  grpc::ServerUnaryReactor* ReleaseCursorLease(grpc::CallbackServerContext* ctx,
                                               const v1::ReleaseCursorLeaseRequest* req,
                                               v1::ReleaseCursorLeaseResponse* resp) override;

 private:
  const rpc::Guard* guard_;
  CursorEngine* engine_;
};

}  // namespace switchboard::cursors
