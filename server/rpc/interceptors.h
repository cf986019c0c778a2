#pragma once
// Server interceptors: per-method metrics, and a clear message on RPCs that
// a later issue implements (gRPC's own UNIMPLEMENTED has an empty message).

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "server/rpc/metrics.h"

namespace switchboard::rpc {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCallInterceptorFactory(
    Metrics* metrics);

}  // namespace switchboard::rpc
