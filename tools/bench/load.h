#pragma once
// A closed-loop unary load generator on the async client API: `concurrency`
// calls outstanding at all times, spread over `threads` client threads (each
// with its own channel, so its own connection, and its own completion
// queue), for `duration_s` seconds. Bounded in time and in count.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace switchboard::bench {

struct LoadResult {
  double seconds = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<double> latencies_us;  // sorted, one per successful call
  double Throughput() const { return seconds > 0 ? ok / seconds : 0; }
  double Percentile(double p) const;
};

// One call slot, reused for every call it makes. Start issues call number `n`
// on `cq` with `tag`; the harness reads status() when the tag comes back.
class CallSlot {
 public:
  virtual ~CallSlot() = default;
  virtual void Start(grpc::CompletionQueue* cq, void* tag, uint64_t n) = 0;
  virtual const grpc::Status& status() const = 0;
  // Cancels the call in flight, if any.
  virtual void Cancel() = 0;
};

// Makes one slot per outstanding call, once, on the thread that uses it.
using SlotFactory = std::function<std::unique_ptr<CallSlot>(const std::shared_ptr<grpc::Channel>&)>;

// A slot for any unary method of a generated async stub:
// UnarySlot<Stub, Req, Resp, &Stub::PrepareAsyncFoo>. `fill` sets the request
// for call number n (it is called for every call).
template <class Stub, class Req, class Resp, auto Prepare>
class UnarySlot final : public CallSlot {
 public:
  UnarySlot(std::unique_ptr<Stub> stub, std::function<void(uint64_t, Req*)> fill)
      : stub_(std::move(stub)), fill_(std::move(fill)) {}
  ~UnarySlot() override {
    call_.reset();  // lives in the call's arena, which the context owns
    ctx_.reset();
  }
  void Start(grpc::CompletionQueue* cq, void* tag, uint64_t n) override {
    call_.reset();
    ctx_.reset();
    ctx_.emplace();
    fill_(n, &req_);
    call_ = ((*stub_).*Prepare)(&*ctx_, req_, cq);
    call_->StartCall();
    call_->Finish(&resp_, &status_, tag);
  }
  const grpc::Status& status() const override { return status_; }
  void Cancel() override {
    if (ctx_) ctx_->TryCancel();
  }

 private:
  std::unique_ptr<Stub> stub_;
  std::function<void(uint64_t, Req*)> fill_;
  std::optional<grpc::ClientContext> ctx_;
  Req req_;
  Resp resp_;
  grpc::Status status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> call_;
};

LoadResult RunLoad(const std::string& target, int threads, int concurrency, double duration_s,
                   const SlotFactory& make_slot);

// A channel of its own: a distinct channel argument keeps gRPC from sharing
// one subchannel (one TCP connection) between channels to the same target.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int id);

// Waits (up to `seconds`) until `channel` is connected.
bool WaitConnected(const std::shared_ptr<grpc::Channel>& channel, double seconds);

}  // namespace switchboard::bench
