#include "gateway/endpoints/status_map.h"

namespace switchboard::gateway {

int HttpStatusFor(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::ALREADY_EXISTS:
      return 409;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    default:
      return 503;
  }
}

bool IsRetryable(const grpc::Status& status) { return HttpStatusFor(status) == 503; }

}  // namespace switchboard::gateway
