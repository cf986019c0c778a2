#include "server/rpc/interceptors.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "server/rpc/guard.h"
#include "server/rpc/method_rules.h"

namespace switchboard::rpc {
namespace {

using grpc::experimental::InterceptionHookPoints;

// gRPC answers UNIMPLEMENTED with no message both for a method it does not
// know and for request bytes that do not parse as the method's request (the
// callback API gives the handler no say). A method in the generated pool is
// known, so there it was the request.
grpc::Status ExplainUnimplemented(const std::string& method) {
  const google::protobuf::MethodDescriptor* known = FindMethod(method);
  if (known != nullptr) {
    return ToGrpcStatus(UnparsableRequest(method, known->input_type()->full_name()));
  }
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat(method, " is not a method of this server; `grpcurl -plaintext ADDRESS list` "
                                           "shows its services (docs/api.md)"));
}

class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(grpc::experimental::ServerRpcInfo* info, Metrics* metrics)
      : method_(info->method() ? info->method() : "?"), metrics_(metrics),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED && status.error_message().empty()) {
        status = ExplainUnimplemented(method_);
        methods->ModifySendStatus(status);
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_->RecordRpc(method_, status.error_code(), secs);
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  Metrics* metrics_;
  std::chrono::steady_clock::time_point start_;
};

class CallInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    // Implemented watches skip it: it would run on every event written to
    // every watcher. Their count is the switchboard_watchers gauge.
    const char* m = info->method();
    if (m != nullptr && absl::StrContains(m, "/Watch") && !absl::StrContains(m, "grpc.health")) return nullptr;
    return new CallInterceptor(info, metrics_);
  }

 private:
  Metrics* metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCallInterceptorFactory(
    Metrics* metrics) {
  return std::make_unique<CallInterceptorFactory>(metrics);
}

}  // namespace switchboard::rpc
