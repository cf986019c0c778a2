// sb_echo_server: a bare gRPC callback-API echo server, the baseline that
// switchboardd's read RPC is compared against. Prints "PORT <n>" on stdout.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <iostream>

#include "common/cli.h"
#include "echo.grpc.pb.h"

namespace {

class EchoService final : public switchboard::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx, const switchboard::bench::EchoMessage* req,
                                 switchboard::bench::EchoMessage* resp) override {
    *resp = *req;
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

}  // namespace

int main(int argc, char** argv) {
  switchboard::Cli cli("sb_echo_server", "sb_echo_server [--address=127.0.0.1:0]");
  cli.AddString("address", "127.0.0.1:0", "Listen address (loopback; port 0 picks one).");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "sb_echo_server: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(cli.GetString("address"), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "sb_echo_server: cannot listen on " << cli.GetString("address") << "\n";
    return 1;
  }
  std::cout << "PORT " << port << std::endl;
  int sig;
  sigwait(&stop, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
