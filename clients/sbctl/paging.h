#pragma once
// Fetching every page of a standard List RPC (page_token/next_page_token).

#include <grpcpp/grpcpp.h>

#include <utility>

#include "clients/sbctl/command.h"

namespace switchboard::sbctl {

// Calls `call(ctx, req, &resp)` page after page and hands each response to
// `each`, until the server returns an empty next_page_token or `each`
// returns false. Returns kExitOk, or the RPC error's exit code.
template <class Response, class Request, class Call, class Each>
int ForEachPage(Invocation& inv, client::Connection* conn, Request req, Call call, Each each) {
  do {
    Response resp;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = call(ctx.get(), req, &resp);
    if (!s.ok()) return inv.RpcError(s);
    if (!each(resp)) break;
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  return kExitOk;
}

}  // namespace switchboard::sbctl
