#pragma once
// Server interceptors: per-method metrics, and a clear answer where gRPC
// gives UNIMPLEMENTED with an empty message: INVALID_ARGUMENT for request
// bytes that do not parse, a message naming the method for an unknown one.

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "server/rpc/metrics.h"

namespace switchboard::rpc {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCallInterceptorFactory(
    Metrics* metrics);

}  // namespace switchboard::rpc
