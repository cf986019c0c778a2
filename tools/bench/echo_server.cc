// sb_echo_server: a bare gRPC callback-API server, the baseline that
// switchboardd is compared against: Echo for reads, Hold/Broadcast for watch
// fan-out. Prints "PORT <n>" on stdout once it listens; exits cleanly on
// SIGTERM or SIGINT.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <iostream>
#include <memory>
#include <mutex>
#include <set>

#include "common/cli.h"
#include "echo.grpc.pb.h"

namespace {

using switchboard::bench::EchoMessage;

class HoldStream;

// The set of held streams; Broadcast walks it under the lock, and a stream
// leaves it (under the same lock) before it is deleted.
class Holders {
 public:
  void Add(HoldStream* s) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.insert(s);
  }
  void Remove(HoldStream* s) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.erase(s);
  }
  void Broadcast(const std::shared_ptr<const EchoMessage>& msg);

 private:
  std::mutex mu_;
  std::set<HoldStream*> streams_;
};

class HoldStream final : public grpc::ServerWriteReactor<EchoMessage> {
 public:
  explicit HoldStream(Holders* holders) : holders_(holders) {
    holders_->Add(this);
    StartSendInitialMetadata();
  }
  // One write in flight; a newer message replaces a waiting one.
  void Send(std::shared_ptr<const EchoMessage> msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    if (in_flight_) {
      next_ = std::move(msg);
      return;
    }
    in_flight_ = std::move(msg);
    StartWrite(in_flight_.get());
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.reset();
    if (!ok) return;  // the stream is going away; OnCancel or OnDone follows
    if (next_) {
      in_flight_ = std::move(next_);
      StartWrite(in_flight_.get());
    }
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!done_) {
      done_ = true;
      Finish(grpc::Status::CANCELLED);
    }
  }
  void OnDone() override {
    holders_->Remove(this);
    delete this;
  }

 private:
  Holders* holders_;
  std::mutex mu_;
  bool done_ = false;
  std::shared_ptr<const EchoMessage> in_flight_;
  std::shared_ptr<const EchoMessage> next_;
};

void Holders::Broadcast(const std::shared_ptr<const EchoMessage>& msg) {
  std::lock_guard<std::mutex> lock(mu_);
  for (HoldStream* s : streams_) s->Send(msg);
}

class EchoService final : public switchboard::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx, const EchoMessage* req,
                                 EchoMessage* resp) override {
    *resp = *req;
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  grpc::ServerWriteReactor<EchoMessage>* Hold(grpc::CallbackServerContext*, const EchoMessage*) override {
    return new HoldStream(&holders_);
  }
  grpc::ServerUnaryReactor* Broadcast(grpc::CallbackServerContext* ctx, const EchoMessage* req,
                                      EchoMessage* resp) override {
    holders_.Broadcast(std::make_shared<const EchoMessage>(*req));
    *resp = *req;
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  Holders holders_;
};

}  // namespace

int main(int argc, char** argv) {
  switchboard::Cli cli("sb_echo_server", "sb_echo_server [--address=127.0.0.1:0]");
  cli.AddString("address", "127.0.0.1:0", "Listen address (loopback; port 0 picks a free one).");
  cli.AddBool("minimal_stack", false,
              "Set grpc.minimal_stack (fewer filters per call): shows how much of the per-stream memory the "
              "default filter stack costs.");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "sb_echo_server: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  // Block the stop signals before gRPC starts its threads, so that only
  // sigwait below sees them.
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
  if (cli.GetBool("minimal_stack")) builder.AddChannelArgument(GRPC_ARG_MINIMAL_STACK, 1);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "sb_echo_server: cannot listen on " << cli.GetString("address") << "\n";
    return 1;
  }
  std::cout << "PORT " << port << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  // Held streams are cancelled by the deadline; their OnCancel finishes them.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
