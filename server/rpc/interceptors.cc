#include "server/rpc/interceptors.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::rpc {
namespace {

using grpc::experimental::InterceptionHookPoints;

std::string UnimplementedMessage(const std::string& method) {
  const char* area = "a later release";
  if (absl::StrContains(method, "ResourcingService")) area = "the resourcing service issue";
  else if (absl::StrContains(method, "MediaService")) area = "the media service issue";
  else if (absl::StrContains(method, "NotificationService")) area = "the notification service issue";
  return absl::StrCat(method, " is part of the API but not implemented in this build yet; it arrives with ",
                      area, ". See docs/api.md for what is implemented.");
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
        status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED, UnimplementedMessage(method_));
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
